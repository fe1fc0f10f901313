import type { InStatement } from "@libsql/client";
import type { Service } from "../context";
import type { Database } from "../db/client";
import { log } from "../lib/log";

/** One queue row (docs/architecture.md "ingest → normaliser"). */
export type QueueItem = { kind: "identify" | "track"; payload: string };

/** The idempotency record written in the same transaction as the rows it answers for. */
export type IdempotencyRecord = { key: string; requestHash: string; status: number; responseBody: string };

export type WriteJob = {
  projectId: string;
  source: "api" | "bulk" | "segment" | "replay";
  receivedAt: number;
  items: QueueItem[];
  idempotency?: IdempotencyRecord;
};

type Pending = WriteJob & { resolve(): void; reject(error: unknown): void };

/** Rows per INSERT statement: 5 parameters each stays far below SQLite's parameter limit. */
const ROWS_PER_STATEMENT = 400;

/**
 * The group-commit writer. Requests hand it their rows and wait; it commits everything that arrived together
 * in one transaction (one fsync) and then resolves them all, so `202` means "in the file" without paying one
 * fsync per request.
 *
 * Why `setImmediate` between commits: libSQL's local calls run synchronously under their promises, so a loop
 * that awaited commit after commit in microtasks would never let the HTTP side read new requests — every commit
 * would carry one. Yielding to I/O lets requests pile up while the disk syncs; the next commit carries them all.
 *
 * A job is never split across transactions (a 500-event batch is all-or-nothing). Commits go through the
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
  /** Commits made and rows written (for tests and metrics). */
  readonly stats = { commits: 0, rows: 0, jobs: 0 };

  constructor(
    private readonly database: Database,
    private readonly options: { maxItems: number; intervalMs: number },
  ) {}

  start(): void {}

  /** Jobs waiting for a commit (tests use it to know a request has reached the writer). */
  get pendingJobs(): number {
    return this.pending.length;
  }

  /** Resolves once the job's rows (and its idempotency record) are committed; rejects if the commit failed. */
  enqueue(job: WriteJob): Promise<void> {
    if (this.stopped) return Promise.reject(new Error("ingest writer is stopped"));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ ...job, resolve, reject });
      this.pendingRows += job.items.length + (job.idempotency ? 1 : 0);
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
        // Let the HTTP side read the requests that arrived during the fsync before the next commit.
        if (this.pending.length > 0) await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.busy = false;
    }
  }

  /** Whole jobs, up to `maxItems` rows (at least one job, however large). */
  private take(): Pending[] {
    let rows = 0;
    let n = 0;
    while (n < this.pending.length) {
      const size = this.pending[n]!.items.length + (this.pending[n]!.idempotency ? 1 : 0);
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
    let jobs: Pending[] = [];
    try {
      await this.database.write(async (tx) => {
        jobs = this.take();
        if (jobs.length > 0) await tx.batch(buildStatements(jobs));
      });
    } catch (error) {
      log.error("ingest commit failed", { jobs: jobs.length, error });
      for (const j of jobs) j.reject(error);
      return;
    }
    this.stats.commits++;
    this.stats.jobs += jobs.length;
    for (const j of jobs) {
      this.stats.rows += j.items.length;
      j.resolve();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.flushing;
    while (this.busy || this.pending.length > 0) {
      if (!this.busy) this.flushing = this.flushAll();
      await this.flushing;
    }
  }
}

function buildStatements(jobs: Pending[]): InStatement[] {
  const statements: InStatement[] = [];
  let values: string[] = [];
  let args: (string | number)[] = [];
  const push = () => {
    if (values.length === 0) return;
    statements.push({ sql: `INSERT INTO ingest_queue (project_id, kind, source, payload, received_at) VALUES ${values.join(",")}`, args });
    values = [];
    args = [];
  };
  for (const job of jobs) {
    for (const item of job.items) {
      values.push("(?,?,?,?,?)");
      args.push(job.projectId, item.kind, job.source, item.payload, job.receivedAt);
      if (values.length >= ROWS_PER_STATEMENT) push();
    }
  }
  push();
  for (const job of jobs) {
    const r = job.idempotency;
    if (!r) continue;
    // REPLACE: a row older than 24 h that the purge has not reached yet is simply superseded.
    statements.push({
      sql: "INSERT OR REPLACE INTO idempotency_keys (project_id, key, request_hash, status, response_body, created_at) VALUES (?,?,?,?,?,?)",
      args: [job.projectId, r.key, r.requestHash, r.status, r.responseBody, job.receivedAt],
    });
  }
  return statements;
}
