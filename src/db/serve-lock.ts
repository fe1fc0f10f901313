import { closeSync, mkdirSync, openSync, realpathSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { createClient, type Client } from "@libsql/client";
import { filePathOf } from "./client";

/**
 * One `serve` per database file. A second one would not corrupt the file (SQLite's locks see to that), but it
 * would run its start-up crash recovery on the first one's live work — re-queue the messages it is sending,
 * record the ones awaiting the SMTP reply as sent — and both would evaluate, normalise and send from the same
 * tables. So the second is refused at once, naming the file.
 *
 * The lock is SQLite's own: an exclusive lock (`locking_mode = EXCLUSIVE`, held from the first write until the
 * connection closes) on a small side file `<database>-serve-lock`. It is a POSIX lock, so the kernel drops it
 * when the process ends however it ends — after `kill -9` the next `serve` starts as usual. CLI commands take no
 * such lock: `vibefollow evaluate` or `backup` beside a running server stay possible. Remote libSQL URLs: none.
 */
export async function lockDatabaseForServe(url: string): Promise<{ release(): void }> {
  const path = filePathOf(url);
  if (path === undefined) return { release() {} };
  const lockPath = `${canonicalPath(path)}-serve-lock`;
  try {
    mkdirSync(dirname(lockPath), { recursive: true });
    closeSync(openSync(lockPath, "a", 0o600)); // owner-only, like the database beside it
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new Error(`cannot open ${lockPath}, the lock file that keeps one serve per database (${reason}): the database's directory must be writable by this user`);
  }
  const client: Client = createClient({ url: `file:${lockPath}` });
  try {
    await client.execute("PRAGMA busy_timeout = 0");
    await client.execute("PRAGMA locking_mode = EXCLUSIVE");
    await client.execute("PRAGMA journal_mode = OFF"); // nothing here needs one: no `-journal` file beside it
    // The write takes the exclusive lock; in EXCLUSIVE locking mode it is kept after the commit.
    await client.execute("CREATE TABLE IF NOT EXISTS serve_lock (taken_at INTEGER)");
    await client.execute({ sql: "INSERT INTO serve_lock (taken_at) VALUES (?)", args: [Date.now()] });
  } catch (e) {
    client.close();
    if (/SQLITE_BUSY|database is locked/i.test(String((e as Error)?.message))) {
      throw new Error(`another vibefollow serve is already running on the database ${resolve(path)}; stop it first (one server per database file)`);
    }
    throw e;
  }
  return { release: () => client.close() };
}

/** The file's own path, symlinks resolved (two names for one database must take one lock); for a file not made yet,
 * its directory's. */
function canonicalPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(resolve(path))), basename(path));
    } catch {
      return resolve(path);
    }
  }
}
