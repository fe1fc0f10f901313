import { afterAll, expect, test } from "bun:test";
import { readdirSync, readlinkSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfigText } from "../../src/config/load";
import { openDatabase } from "../../src/db/client";
import { FileFlusher } from "../../src/db/flush-file";
import { emptyDir } from "./support";

/**
 * The checkpoint thread's flush of the database file (src/db/flush-file.ts): through a descriptor SQLite already
 * has open, never one of its own — closing one of its own would drop SQLite's POSIX locks on the file.
 */
const tmp = emptyDir();
afterAll(() => tmp.cleanup());

const open = (file: string) => openDatabase(parseConfigText(`[database]\nurl = "file:${join(tmp.dir, file)}"\n`).database);

/** Descriptors of the process open on `path` right now. */
function descriptorsOf(path: string): number {
  const target = realpathSync(path);
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === target;
    } catch {
      return false;
    }
  }).length;
}

test("syncs an open database file through SQLite's own descriptor, opening none of its own", async () => {
  const file = join(tmp.dir, "open.db");
  const db = await open("open.db");
  try {
    await db.execute("CREATE TABLE t (x)");
    await db.execute("INSERT INTO t VALUES (1)");
    const before = descriptorsOf(file);
    expect(before).toBeGreaterThan(0);
    const flusher = new FileFlusher(file);
    expect(flusher.flush()).toBe(true);
    expect(flusher.flush()).toBe(true);
    expect(descriptorsOf(file)).toBe(before);
  } finally {
    db.close();
  }
});

test("a file no descriptor is open on is left alone (false), as is a path that does not exist", () => {
  const file = join(tmp.dir, "closed.bin");
  writeFileSync(file, "x");
  expect(new FileFlusher(file).flush()).toBe(false);
  expect(new FileFlusher(join(tmp.dir, "missing.db")).flush()).toBe(false);
});

test("a descriptor that no longer points at the file is not used: the file's current one is looked up", async () => {
  const file = join(tmp.dir, "reopen.db");
  const db = await open("reopen.db");
  try {
    await db.execute("CREATE TABLE t (x)");
    const flusher = new FileFlusher(file);
    // As if the descriptor it used had been closed and its number reused by another file.
    (flusher as unknown as { fd: number }).fd = 0;
    expect(flusher.flush()).toBe(true);
    expect(readlinkSync(`/proc/self/fd/${(flusher as unknown as { fd: number }).fd}`)).toBe(realpathSync(file));
  } finally {
    db.close();
  }
});

test("SQLite's locks survive the flush: another process still cannot lock the file while a read is open", async () => {
  const file = join(tmp.dir, "locks.db");
  const db = await open("locks.db");
  const read = await db.readClient.transaction("read");
  try {
    await db.execute("CREATE TABLE t (x)");
    await read.execute("SELECT count(*) FROM sqlite_master"); // the read transaction's shared lock on the file
    expect(new FileFlusher(file).flush()).toBe(true);
    // A descriptor opened and closed here instead would have dropped that lock, and this process would then
    // have locked the file exclusively under the open read (checked by hand: "GOT EXCLUSIVE").
    const other = Bun.spawnSync([
      process.execPath,
      "-e",
      `const { Database } = require("bun:sqlite"); const d = new Database(${JSON.stringify(file)});
       d.exec("PRAGMA busy_timeout = 0"); d.exec("PRAGMA locking_mode = EXCLUSIVE");
       try { d.exec("BEGIN EXCLUSIVE"); d.exec("COMMIT"); console.log("GOT EXCLUSIVE"); } catch (e) { console.log("refused: " + e.message); }`,
    ]);
    expect(other.stdout.toString().trim()).toBe("refused: database is locked");
  } finally {
    read.close();
    db.close();
  }
});
