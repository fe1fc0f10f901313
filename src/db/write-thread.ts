import { statSync } from "node:fs";
import type { InStatement } from "@libsql/client";
import type { Config } from "../config/schema";
import type { KeyLookup } from "../ingest/commit-jobs";
import type { StoredResponse } from "../ingest/idempotency";
import { filePathOf, WAL_SIZE_LIMIT_BYTES, WRITER_CACHE_KIB, type Database } from "./client";
import { ConnectionThread, type CheckpointReport } from "./connection-thread";

/**
 * How often the checkpoint thread copies the WAL into the database file (PASSIVE: never waits for writers) and
 * flushes the copied pages to disk (thread-worker.ts `passive`). Small and often, so the write-back never bunches
 * up behind the commits' fsyncs: with the flush, every 2 s kept the half-load p99 of single events at 6–8 ms
 * across a WAL restart, where every 10 s without it gave 9–14 ms and ~100 ms stalls (docs/benchmarks.md,
 * "Tenth session"). Without the flush, every 2 s was no better than every 10 s.
 */
const CHECKPOINT_EVERY_MS = 2_000;
/** How often the WAL file's size is looked at (a `stat`; see `restartWal`). */
const WAL_SIZE_CHECK_MS = 1_000;
/** After a RESTART that a reader kept waiting, how long until the next try (each try holds the write lock for
 * up to the checkpoint thread's 250 ms busy timeout). */
const RESTART_RETRY_MS = 10_000;

/** The checkpoint threads' work since start, process-wide (`/metrics`: docs/metrics.md). */
export const walStats = { passive: 0, restarts: 0, flushes: 0 };

function countCheckpoint(report: CheckpointReport): void {
  if (report.mode === "restart") walStats.restarts++;
  else walStats.passive++;
  if (report.flushed) walStats.flushes++;
}

export function walBytes(walPath: string): number {
  try {
    return statSync(walPath).size;
  } catch {
    return 0;
  }
}

/**
 * A database's write thread: the connection the heavy writes run on — the ingest writer's group commits and the
 * normaliser's batches — plus the checkpoint thread, which alone runs the WAL checkpoints (on the main thread
 * they would stall HTTP, on the write thread hold up commits). Both are connection threads
 * (connection-thread.ts), so the main thread only sends and receives messages while SQLite writes and fsyncs.
 *
 * Ingest and the normaliser share this one connection on purpose: in WAL mode a connection drops its whole
 * page cache whenever another connection has committed, so two writers taking turns would each start every
 * transaction cold.
 *
 * If either thread dies, `broken` is set (requests in flight on a dead write thread fail: an ingest request
 * gets 500, never a 202; a normaliser batch is taken again) and the users go back to the main connection.
 */
export class WriteThread {
  private walTimer?: Timer;
  private restarting = false;
  /** No restart is tried before this time (RESTART_RETRY_MS). */
  private restartAfter = 0;

  private constructor(
    private readonly writer: ConnectionThread,
    private readonly checkpointer: ConnectionThread,
  ) {}

  /**
   * Starts both threads and opens their connections; rejects when that is not possible. With `lock` (the
   * Database whose write lock guards the threads), the WAL is also made to start over under steady load
   * (`restartWal`).
   */
  static async start(
    url: string,
    database: Config["database"],
    opts: { checkpointEveryMs?: number; walSizeLimit?: number; lock?: Database; walCheckEveryMs?: number } = {},
  ): Promise<WriteThread> {
    const { checkpointEveryMs = CHECKPOINT_EVERY_MS, walSizeLimit = WAL_SIZE_LIMIT_BYTES, lock, walCheckEveryMs = WAL_SIZE_CHECK_MS } = opts;
    const started = await Promise.allSettled([
      ConnectionThread.start(url, database, { name: "write thread", cacheKib: WRITER_CACHE_KIB, walSizeLimit }),
      ConnectionThread.start(url, database, { name: "checkpoint thread", checkpointEveryMs, walSizeLimit, onCheckpoint: countCheckpoint }),
    ]);
    const [writer, checkpointer] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined));
    if (!writer || !checkpointer) {
      writer?.kill();
      checkpointer?.kill();
      throw (started.find((r) => r.status === "rejected") as PromiseRejectedResult).reason;
    }
    const thread = new WriteThread(writer, checkpointer);
    if (lock) thread.watchWal(lock, `${filePathOf(url)}-wal`, walSizeLimit, walCheckEveryMs);
    return thread;
  }

  /**
   * PASSIVE checkpoints never wait for writers, but SQLite starts the WAL over only when a write begins with
   * every frame copied — and under steady load (commits every few milliseconds, batches back to back) no PASSIVE
   * checkpoint finishes before the next commit: 40 s of full `serve` load grew the WAL to 891 MB, and it would
   * have grown as long as the load lasted. So every second the WAL file's size is looked at; once it outgrows
   * journal_size_limit (the size it is cut back to when it starts over — larger means it has not since), the
   * checkpoint thread catches up with PASSIVE passes beside the writers, then runs a RESTART checkpoint while this
   * thread holds the write lock: no commit runs meanwhile and the ones that arrive queue on the lock (not on
   * SQLite's busy handler, whose sleeps grow to tens of milliseconds). The next commit starts the WAL over.
   */
  private watchWal(lock: Database, walPath: string, limit: number, everyMs: number): void {
    this.walTimer = setInterval(() => void this.restartWal(lock, walPath, limit), everyMs);
    this.walTimer.unref();
  }

  private async restartWal(lock: Database, walPath: string, limit: number): Promise<void> {
    if (this.restarting || this.broken || performance.now() < this.restartAfter || walBytes(walPath) <= limit) return;
    this.restarting = true;
    try {
      await this.checkpointer.checkpoint("catch-up");
      const busy = await lock.exclusive(() => this.checkpointer.checkpoint("restart"));
      if (busy) this.restartAfter = performance.now() + RESTART_RETRY_MS;
    } catch {
      // A thread that died is reported by `broken`; a checkpoint that could not finish is tried again.
    } finally {
      this.restarting = false;
    }
  }

  get broken(): boolean {
    return this.writer.broken || this.checkpointer.broken;
  }

  /** Runs an ingest group commit's statements as one transaction, unless one of `lookup`'s Idempotency-Keys is
   * already stored (src/ingest/commit-jobs.ts `commitUnlessStored`). */
  commit(statements: InStatement[], lookup?: KeyLookup, keysSince = 0): Promise<[number, StoredResponse][]> {
    return this.writer.commit(statements, lookup, keysSince);
  }

  /** Runs one normaliser step, whole, on the write connection (src/pipeline/thread-step.ts). */
  normalise<T>(limit: number, at: number, config: Config): Promise<T> {
    return this.writer.normalise<T>(limit, at, config);
  }

  /** Closes the threads' connections and ends them. Call with nothing in flight. */
  async close(): Promise<void> {
    clearInterval(this.walTimer);
    await Promise.all([this.writer.close(), this.checkpointer.close()]);
  }

  /** Ends the threads abruptly, as a crash would (tests). */
  kill(): void {
    clearInterval(this.walTimer);
    this.writer.kill();
    this.checkpointer.kill();
  }
}

/** What a user of the shared write thread holds: the thread's methods, and `close` to let go of it. */
export type WriteThreadLease = Pick<WriteThread, "broken" | "commit" | "normalise" | "kill" | "close">;

const shared = new WeakMap<Database, { thread: Promise<WriteThread>; users: number }>();

/**
 * The database's one write thread, started by the first caller and shared: every caller gets a lease, and the
 * threads end when the last lease is closed. Rejects when the threads cannot start.
 */
export async function acquireWriteThread(database: Database, config: Config["database"]): Promise<WriteThreadLease> {
  let entry = shared.get(database);
  if (!entry) {
    entry = { thread: WriteThread.start(database.url, config, { lock: database }), users: 0 };
    shared.set(database, entry);
  }
  const current = entry;
  current.users++;
  let thread: WriteThread;
  try {
    thread = await current.thread;
  } catch (error) {
    if (--current.users === 0 && shared.get(database) === current) shared.delete(database);
    throw error;
  }
  let closed = false;
  return {
    get broken() {
      return thread.broken;
    },
    commit: (statements, lookup, keysSince) => thread.commit(statements, lookup, keysSince),
    normalise: (limit, at, config) => thread.normalise(limit, at, config),
    kill: () => thread.kill(),
    async close() {
      if (closed) return;
      closed = true;
      if (--current.users > 0) return;
      if (shared.get(database) === current) shared.delete(database);
      await thread.close();
    },
  };
}
