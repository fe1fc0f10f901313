import { fdatasyncSync, readdirSync, readlinkSync, realpathSync } from "node:fs";

/**
 * Writes a file's dirty pages to disk now (`fdatasync`), through a descriptor the process already has open on
 * it — one of SQLite's own. Why: SQLite syncs the database file only when a checkpoint has copied the whole WAL,
 * which under steady load only the RESTART that starts the WAL over does. Every page copied since the last one
 * then went to disk in that one sync: ~100 ms with every commit waiting (docs/benchmarks.md, "Tenth session").
 * Flushed after each checkpoint pass instead, the same pages go out in small pieces beside the commits.
 *
 * Why not a descriptor of our own: closing any descriptor of a file drops every POSIX lock the process holds on
 * it, SQLite's included (a connection holds one on the database file for each transaction's length), so such a
 * descriptor could never be closed safely (tests/foundation/flush-file.test.ts shows the lock lost that way).
 *
 * Best effort, and nothing relies on it: SQLite still syncs the file itself before the WAL starts over. Where
 * `/proc/self/fd` does not exist (macOS) it does nothing.
 */
export class FileFlusher {
  private fd: number | undefined;
  private readonly target: string | undefined;

  constructor(path: string) {
    try {
      this.target = realpathSync(path);
    } catch {
      this.target = undefined;
    }
  }

  /** Whether the file's pages were synced (false: no open descriptor of it was found, or the sync failed). */
  flush(): boolean {
    if (this.fd === undefined || !this.isTarget(this.fd)) this.fd = this.find();
    if (this.fd === undefined) return false;
    try {
      fdatasyncSync(this.fd);
      return true;
    } catch {
      this.fd = undefined;
      return false;
    }
  }

  /** A descriptor of the file, or undefined. Looked up again whenever the one found before has changed hands. */
  private find(): number | undefined {
    if (this.target === undefined) return undefined;
    let names: string[];
    try {
      names = readdirSync("/proc/self/fd");
    } catch {
      return undefined;
    }
    for (const name of names) if (this.isTarget(Number(name))) return Number(name);
    return undefined;
  }

  private isTarget(fd: number): boolean {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === this.target;
    } catch {
      return false;
    }
  }
}
