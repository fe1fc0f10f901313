import type { Service } from "../context";
import { filePathOf, WAL_CHECKPOINT_PAGES, type Database } from "../db/client";
import { fileIdentity, isSameFile, type FileIdentity } from "../db/file-identity";
import type { WriteThreadLease } from "../db/write-thread";
import { now } from "../lib/clock";
import { log } from "../lib/log";
import { buildStatements, commitUnlessStored, keyLookup, type WriteJob } from "./commit-jobs";
import { IDEMPOTENCY_TTL_MS, type StoredResponse } from "./idempotency";

export { groupOf, type IdempotencyRecord, type QueueGroup, type WriteJob } from "./commit-jobs";

/** The queue rows a job offers: what `commit_max_items` counts. (Keyed rows found already stored are skipped in
 * the commit, but counted here.) */
const queueRows = (job: WriteJob) => job.groups.reduce((n, g) => n + g.count, 0) + (job.keyed?.rows.length ?? 0);

type Pending = WriteJob & { rows: number; resolve(stored: StoredResponse | undefined): void; reject(error: unknown): void };

/** How long, at most, a backlog waits for more arrivals before the next commit (only while they keep coming). */
const GATHER_MS = 1;

/**
 * The group-commit writer. Requests hand it their rows and wait; it commits everything that arrived together
 * in one transaction (one fsync) and then resolves them all, so `202` means "in the file" without paying one
 * fsync per request.
 *
 * Why `setImmediate` between commits: libSQL's local calls run synchronously under their promises, so a loop
 * that awaited commit after commit in microtasks would never let the HTTP side read new requests — every commit
 * would carry one. Yielding to I/O lets requests pile up while the disk syncs; the next commit carries them all.
 *
 * Where the transaction runs: on the database's write thread (src/db/write-thread.ts, shared with the
 * normaliser) when one is given and starts — the main thread then keeps serving HTTP during the write and
 * fsync — else on the Database's write connection.
 *
 * A job is never split across transactions (a 500-event batch is all-or-nothing). Commits hold the
 * Database's write lock, so they never interleave with the normaliser's transactions. `stop()` flushes what
 * is pending and then refuses new work.
 */
export class GroupCommitWriter implements Service {
  readonly name = "ingest-writer";
  private pending: Pending[] = [];
  private pendingRows = 0;
  private scheduled = false;
  private busy = false;
  private flushing: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Commits made and queue rows written (for tests and metrics; see `queueRows`). */
  readonly stats = { commits: 0, rows: 0, jobs: 0 };

  private thread?: WriteThreadLease;
  private threadStarting?: Promise<void>;
  /** The database file as it was when the writer was made (undefined for a remote database). */
  private readonly file?: { path: string; opened: FileIdentity | undefined };

  constructor(
    private readonly database: Database,
    private readonly options: { maxItems: number; intervalMs: number; startThread?: () => Promise<WriteThreadLease> },
  ) {
    const path = filePathOf(database.url);
    if (path !== undefined) this.file = { path, opened: fileIdentity(path) };
  }

  /** As a service (serve): the write thread starts now, not on the first request. */
  start(): void {
    void this.threadOnce();
  }

  /** Whether commits currently run on the write thread (false before the first commit, or after a fallback). */
  get threaded(): boolean {
    return this.thread !== undefined && !this.thread.broken;
  }

  /** Jobs waiting for a commit (tests use it to know a request has reached the writer). */
  get pendingJobs(): number {
    return this.pending.length;
  }

  /**
   * Resolves once the job's rows (and its idempotency record) are committed; rejects if the commit failed. A job
   * whose Idempotency-Key is already stored (within 24 h) writes nothing and resolves with the stored record
   * (commit-jobs.ts); otherwise it resolves with undefined.
   */
  enqueue(job: WriteJob): Promise<StoredResponse | undefined> {
    if (this.stopped) return Promise.reject(new Error("ingest writer is stopped"));
    return new Promise((resolve, reject) => {
      const rows = queueRows(job);
      this.pending.push({ ...job, rows, resolve, reject });
      this.pendingRows += rows;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.busy) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      if (!this.busy) this.flushing = this.flushAll();
    };
    // A full commit's worth goes at once; otherwise wait a moment (at least one I/O turn) for company.
    if (this.pendingRows >= this.options.maxItems || this.options.intervalMs <= 0) setImmediate(run);
    else setTimeout(run, this.options.intervalMs);
  }

  /** Commits until nothing is pending. `busy` is cleared in the same synchronous step as the last emptiness
   * check, so a job enqueued at any moment is either taken by this loop or schedules a new one. */
  private async flushAll(): Promise<void> {
    this.busy = true;
    try {
      while (this.pending.length > 0) {
        await this.commitNext();
        // Inline, the commit froze the HTTP side: let it read what arrived meanwhile before the next commit.
        // On the write thread it kept reading, and whatever is pending goes now.
        if (this.pending.length > 0 && !this.thread) await this.gather();
      }
    } finally {
      this.busy = false;
    }
  }

  /** Yields to I/O at least once, and again while each turn brings more jobs (up to GATHER_MS). */
  private async gather(): Promise<void> {
    const start = performance.now();
    let seen: number;
    do {
      seen = this.pending.length;
      await new Promise<void>((r) => setImmediate(r));
    } while (this.pending.length > seen && this.pendingRows < this.options.maxItems && performance.now() - start < GATHER_MS);
  }

  /** Whole jobs, up to `maxItems` rows (at least one job, however large). */
  private take(): Pending[] {
    let rows = 0;
    let n = 0;
    while (n < this.pending.length) {
      const size = this.pending[n]!.rows;
      if (n > 0 && rows + size > this.options.maxItems) break;
      rows += size;
      n++;
    }
    const jobs = this.pending.splice(0, n);
    this.pendingRows -= rows;
    return jobs;
  }

  /**
   * Takes the pending jobs only once the write lock is ours: whatever arrived while the normaliser (or anyone)
   * held the database goes into this one commit.
   */
  private async commitNext(): Promise<void> {
    await this.threadOnce();
    let jobs: Pending[] = [];
    const stored = new Map<Pending, StoredResponse>();
    try {
      await this.database.exclusive(async (client) => {
        jobs = this.take();
        if (jobs.length === 0) return;
        const keysSince = now() - IDEMPOTENCY_TTL_MS;
        if (this.thread?.broken) await this.dropThread(client);
        // The statements are built here, the keys looked up in the commit (commit-jobs.ts). A job whose key is
        // already stored writes nothing: the others go in a second round.
        let remaining = jobs;
        while (remaining.length > 0) {
          const statements = buildStatements(remaining, keysSince);
          const lookup = keyLookup(remaining);
          const found = this.thread
            ? await this.thread.commit(statements, lookup, keysSince)
            : await commitUnlessStored(client, statements, lookup, keysSince);
          if (found.length === 0) break;
          for (const [i, record] of found) stored.set(remaining[i]!, record);
          remaining = remaining.filter((j) => !stored.has(j));
        }
      });
    } catch (error) {
      log.error("ingest commit failed", { jobs: jobs.length, error });
      for (const j of jobs) j.reject(error);
      return;
    }
    // A 202 promises the request is in the database file. Once the file was deleted, replaced or emptied, the
    // commit succeeded into a file no one will open again (the connections keep the old one): not a 202.
    if (this.file && jobs.length > 0 && !isSameFile(this.file.path, this.file.opened)) {
      const error = new Error(`the database file ${this.file.path} was deleted, replaced or emptied while the server ran; restart the server`);
      log.error("ingest commit not acknowledged", { jobs: jobs.length, error });
      for (const j of jobs) j.reject(error);
      return;
    }
    this.stats.commits++;
    this.stats.jobs += jobs.length;
    for (const j of jobs) {
      const found = stored.get(j);
      if (!found) this.stats.rows += j.rows;
      j.resolve(found);
    }
  }

  /** On start or first use: the write thread, whose checkpoint thread from then on owns the WAL checkpoints
   * (off on the main connection). Concurrent callers share the one attempt. */
  private threadOnce(): Promise<void> {
    return (this.threadStarting ??= this.attachThread());
  }

  private async attachThread(): Promise<void> {
    if (!this.options.startThread) return;
    try {
      const thread = await this.options.startThread();
      await this.database.exclusive(async (client) => {
        await client.execute("PRAGMA wal_autocheckpoint = 0");
        this.thread = thread;
      });
    } catch (error) {
      log.warn("write thread unavailable; ingest commits on the main thread", { error });
    }
  }

  /** A dead thread: commits (and checkpoints) come back to the main connection. */
  private async dropThread(client: { execute(sql: string): Promise<unknown> }): Promise<void> {
    log.error("write thread stopped; ingest commits on the main thread from now on");
    const thread = this.thread;
    this.thread = undefined;
    await thread?.close();
    await client.execute(`PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.flushing;
    while (this.busy || this.pending.length > 0) {
      if (!this.busy) this.flushing = this.flushAll();
      await this.flushing;
    }
    await this.threadStarting;
    await this.thread?.close();
  }
}
