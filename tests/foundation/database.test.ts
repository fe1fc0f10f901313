import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseConfigText } from "../../src/config/load";
import { openDatabase, type Database } from "../../src/db/client";
import { isMigrated, migrate } from "../../src/db/migrate";
import { apiKeys } from "../../src/db/schema";
import { migrations } from "../../migrations";
import { emptyDir } from "./support";

// Real processes on a shared machine: the same allowance as `npm test` (--timeout 60000) when run directly.
setDefaultTimeout(60_000);

/** The database client on a real file: pragmas, migrations, and the one-writer lock. */
const tmp = emptyDir();
afterAll(() => tmp.cleanup());

async function open(toml = "", file = "vf.db"): Promise<Database> {
  return openDatabase(parseConfigText(`[database]\nurl = "file:${join(tmp.dir, file)}"\n${toml}`).database);
}

async function pragma(db: Database, name: string, read = false): Promise<unknown> {
  const rs = read ? await db.read(`PRAGMA ${name}`) : await db.execute(`PRAGMA ${name}`);
  return Object.values(rs.rows[0]!)[0];
}

test("a file: URL gets its directory created, WAL, the busy timeout and synchronous=FULL by default", async () => {
  const db = await open("", "a/b/c/vf.db");
  try {
    expect(existsSync(join(tmp.dir, "a/b/c/vf.db"))).toBe(true);
    expect(await pragma(db, "journal_mode")).toBe("wal");
    for (const read of [false, true]) {
      expect(await pragma(db, "synchronous", read)).toBe(2); // FULL
      expect(await pragma(db, "busy_timeout", read)).toBe(5000);
      expect(await pragma(db, "foreign_keys", read)).toBe(1);
    }
  } finally {
    db.close();
  }
});

test('synchronous = "normal" and busy_timeout are applied to both connections', async () => {
  const db = await open('synchronous = "normal"\nbusy_timeout = "2s"\n', "normal.db");
  try {
    for (const read of [false, true]) {
      expect(await pragma(db, "synchronous", read)).toBe(1); // NORMAL
      expect(await pragma(db, "busy_timeout", read)).toBe(2000);
    }
  } finally {
    db.close();
  }
});

test("migrations are embedded as text, apply once, and readiness reflects them", async () => {
  expect(migrations.length).toBeGreaterThan(0);
  expect(migrations[0]!.sql).toContain("CREATE TABLE `api_keys`");
  for (const m of migrations) expect(m.sql.trim().length).toBeGreaterThan(0);
  const db = await open("", "migrate.db");
  try {
    expect(await isMigrated(db)).toBe(false);
    expect(await migrate(db)).toEqual(migrations.map((m) => m.tag));
    expect(await migrate(db)).toEqual([]);
    expect(await isMigrated(db)).toBe(true);
  } finally {
    db.close();
  }
});

test("drizzle writes wait for a transaction in flight instead of failing on the single connection", async () => {
  const db = await open("", "lock.db");
  try {
    await migrate(db);
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const tx = db.write(async (t) => {
      await t.execute({ sql: "INSERT INTO meta (key, value) VALUES ('tx', '1')", args: [] });
      order.push("tx-insert");
      await gate;
      order.push("tx-commit");
    });
    await Bun.sleep(5);
    const row = { id: "key_x", projectId: "p", name: "n", lookupPrefix: "sk_live_xxxxxxxx", last4: "abcd", hash: "h", createdAt: 1 };
    const insert = db.db.insert(apiKeys).values(row).then(() => order.push("drizzle-insert"));
    const exec = db.execute("SELECT 1").then(() => order.push("execute"));
    const drizzleTx = db.db.transaction(async (t) => {
      await t.insert(apiKeys).values({ ...row, id: "key_y" });
      order.push("drizzle-tx");
    });
    await Bun.sleep(20);
    expect(order).toEqual(["tx-insert"]); // everything else queued behind the open transaction
    release();
    await Promise.all([tx, insert, exec, drizzleTx]);
    expect(order.slice(0, 2)).toEqual(["tx-insert", "tx-commit"]);
    expect(order.slice(2).sort()).toEqual(["drizzle-insert", "drizzle-tx", "execute"]);
    expect((await db.read("SELECT count(*) AS n FROM api_keys")).rows[0]!.n).toBe(2);
  } finally {
    db.close();
  }
});

test("using the database instead of the transaction inside write() fails loudly, not a deadlock", async () => {
  const db = await open("", "nested.db");
  try {
    await migrate(db);
    const attempt = db.write(async () => {
      await db.execute("SELECT 1");
    });
    await expect(attempt).rejects.toThrow("use the transaction handed to the callback");
    // Also for a drizzle call and a batch, as a rejected promise (so `.catch()` chains see it).
    await db.write(async () => {
      const viaDrizzle = (await Promise.resolve(db.db.select().from(apiKeys)).catch((e: Error & { cause?: Error }) => e)) as Error & { cause?: Error };
      expect((viaDrizzle.cause ?? viaDrizzle).message).toContain("use the transaction handed to the callback"); // drizzle wraps it
      await expect(db.batch(["SELECT 1"])).rejects.toThrow("use the transaction handed to the callback");
    });
    // The lock is free again afterwards.
    expect((await db.execute("SELECT 2 AS two")).rows[0]!.two).toBe(2);
  } finally {
    db.close();
  }
});

test("closeWhenIdle waits for the write in flight", async () => {
  const db = await open("", "close.db");
  await migrate(db);
  let committed = false;
  const write = db.write(async (t) => {
    await Bun.sleep(20);
    await t.execute("INSERT INTO meta (key, value) VALUES ('late', 'yes')");
    committed = true;
  });
  await db.closeWhenIdle();
  expect(committed).toBe(true);
  await write;
  const again = await open("", "close.db");
  try {
    expect((await again.read("SELECT value FROM meta WHERE key = 'late'")).rows[0]!.value).toBe("yes");
  } finally {
    again.close();
  }
});

test("two processes migrating a new database at once apply each migration exactly once", async () => {
  const file = join(tmp.dir, "race.db");
  const startAt = Date.now() + 3_000;
  const script = `
    import { openDatabase } from ${JSON.stringify(join(import.meta.dir, "../../src/db/client.ts"))};
    import { migrate } from ${JSON.stringify(join(import.meta.dir, "../../src/db/migrate.ts"))};
    const db = await openDatabase({ url: ${JSON.stringify(`file:${file}`)}, synchronous: "full", busy_timeout: 10000 });
    while (Date.now() < ${startAt}) await Bun.sleep(1); // all three start migrating together
    console.log(JSON.stringify(await migrate(db)));
    db.close();`;
  const run = () => Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const procs = [run(), run(), run()];
  const results = await Promise.all(procs.map(async (p) => ({ code: await p.exited, out: await new Response(p.stdout).text(), err: await new Response(p.stderr).text() })));
  for (const r of results) expect(r.err).toBe("");
  expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
  const applied = results.flatMap((r) => JSON.parse(r.out) as string[]);
  expect(applied.sort()).toEqual(migrations.map((m) => m.tag).sort());
});

test("processes opening the same new files at once all succeed: the switch to WAL is retried, not SQLITE_BUSY", async () => {
  // Turning a new file into WAL takes an exclusive lock, and a connection that meets another's shared lock
  // gets SQLITE_BUSY at once, without its busy timeout (found as a flaky failure of the test above: about one
  // open in 300 failed when 6 processes opened 300 new files each).
  const FILES = 250;
  const startAt = Date.now() + 1_500;
  const script = `
    import { openDatabase } from ${JSON.stringify(join(import.meta.dir, "../../src/db/client.ts"))};
    while (Date.now() < ${startAt}) await Bun.sleep(1);
    const failures = [];
    for (let i = 0; i < ${FILES}; i++) {
      try {
        const db = await openDatabase({ url: "file:" + ${JSON.stringify(tmp.dir)} + "/open-race-" + i + ".db", synchronous: "full", busy_timeout: 10000 });
        await db.read("SELECT 1");
        db.close();
      } catch (e) {
        failures.push(String(e).slice(0, 80));
      }
    }
    console.log(JSON.stringify(failures));`;
  const procs = Array.from({ length: 5 }, () => Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" }));
  const failures = await Promise.all(procs.map(async (p) => (await p.exited, JSON.parse(await new Response(p.stdout).text()) as string[])));
  expect(failures.flat()).toEqual([]);
}, 60_000);

test("a new database file (and its -wal and -shm) is readable by its owner only; an existing file keeps its mode", async () => {
  const db = await open("", "private.db");
  await migrate(db);
  await db.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')");
  for (const f of ["private.db", "private.db-wal", "private.db-shm"]) {
    expect({ f, mode: (statSync(join(tmp.dir, f)).mode & 0o777).toString(8) }).toEqual({ f, mode: "600" });
  }
  db.close();
  chmodSync(join(tmp.dir, "private.db"), 0o640); // the operator's choice
  const again = await open("", "private.db");
  expect((statSync(join(tmp.dir, "private.db")).mode & 0o777).toString(8)).toBe("640");
  again.close();
});

test("a clean close checkpoints the WAL, so the .db file alone holds every commit", async () => {
  const db = await open("", "checkpoint.db");
  await migrate(db);
  await db.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')");
  await db.closeWhenIdle();
  const wal = Bun.file(join(tmp.dir, "checkpoint.db-wal"));
  expect((await wal.exists()) ? wal.size : 0).toBe(0);
  // Copy only the .db file, as an operator might after stopping the service, and read the row back.
  const copy = join(tmp.dir, "copy.db");
  await Bun.write(copy, Bun.file(join(tmp.dir, "checkpoint.db")));
  const again = await open("", "copy.db");
  try {
    expect((await again.read("SELECT value FROM meta WHERE key = 'k'")).rows[0]!.value).toBe("v");
  } finally {
    again.close();
  }
});

test("work scheduled from inside a write may use the database once that write is over", async () => {
  const db = await open("", "scheduled.db");
  try {
    await migrate(db);
    let later!: Promise<unknown>;
    await db.write(async (tx) => {
      await tx.execute("INSERT INTO meta (key, value) VALUES ('a', '1')");
      later = new Promise((resolve, reject) => setTimeout(() => db.execute("INSERT INTO meta (key, value) VALUES ('b', '2')").then(resolve, reject), 5));
    });
    await later;
    expect((await db.read("SELECT count(*) AS n FROM meta")).rows[0]!.n).toBe(2);
  } finally {
    db.close();
  }
});
