import type { InStatement } from "@libsql/client";
import type { Config } from "../config/schema";
import type { KeyLookup } from "../ingest/commit-jobs";
import type { StoredResponse } from "../ingest/idempotency";
import { WAL_SIZE_LIMIT_BYTES } from "./client";
import type { OpenMessage, RequestMessage, WireError, WorkerReply } from "./thread-worker";

/**
 * The worker's script. In the compiled binary it is an embedded entrypoint (scripts/build.ts), addressed by its
 * path under src/; the bundler would turn `import.meta.url` into this machine's source path.
 */
const WORKER_SCRIPT = Bun.main.startsWith("/$bunfs/") ? "./db/thread-worker.ts" : new URL("./thread-worker.ts", import.meta.url).href;

/** How long a thread may take to open its connection before its user gives up on it. */
const OPEN_TIMEOUT_MS = 10_000;

export type ThreadOptions = {
  /** Names the thread in errors ("write thread"). */
  name: string;
  /** > 0: the thread runs the WAL checkpoints, a PASSIVE one on this period. */
  checkpointEveryMs?: number;
  /** journal_size_limit: the WAL file's size when it starts over (default WAL_SIZE_LIMIT_BYTES; tests pass less). */
  walSizeLimit?: number;
  /** Page cache of the thread's connection, KiB (0: SQLite's default). */
  cacheKib?: number;
  /** Called for each checkpoint the thread reports (the checkpoint thread's). */
  onCheckpoint?: (report: CheckpointReport) => void;
};

export type CheckpointReport = Omit<Extract<WorkerReply, { type: "checkpointed" }>, "type">;

/**
 * The main thread's handle on a connection thread (thread-worker.ts): a Bun Worker with its own connection to
 * the same database file, so SQLite's synchronous work runs off the main thread, which only sends and receives
 * messages. `batch` runs statements as one transaction; `normalise` runs one normaliser step there, whole (one
 * message each way per batch: a message per statement would cost ~0.1 ms each in thread wake-ups).
 *
 * The caller holds the Database's write lock around each use (`database.exclusive`), so this connection's
 * transactions never meet another's (no SQLITE_BUSY). If the worker dies, requests in flight fail — their
 * error says the thread is closed, which callers treat as a storage error — and `broken` is set: the user goes
 * back to the main connection. (Checked by hand: a worker terminated inside a write transaction leaves no lock
 * behind; the main connection writes right after.)
 */
export class ConnectionThread {
  private readonly inFlight = new Map<number, { resolve(r: unknown): void; reject(e: Error): void }>();
  private nextId = 1;
  broken = false;

  private constructor(
    private readonly worker: Worker,
    readonly name: string,
    onCheckpoint?: (report: CheckpointReport) => void,
  ) {
    worker.addEventListener("message", (e: MessageEvent<WorkerReply>) => {
      const m = e.data;
      if (m.type === "checkpointed") onCheckpoint?.({ mode: m.mode, flushed: m.flushed });
      if (m.type !== "done") return;
      const waiter = this.inFlight.get(m.id);
      this.inFlight.delete(m.id);
      if (this.inFlight.size === 0) unref(worker);
      if (m.error === undefined) waiter?.resolve(m.result);
      else waiter?.reject(toError(m.error));
    });
    worker.addEventListener("error", (e) => this.fail(new Error(`${name} failed: ${e.message}; connection closed`)));
    worker.addEventListener("close", () => this.fail(new Error(`${name} exited; connection closed`)));
  }

  /** Starts the worker and opens its connection; rejects when that is not possible. */
  static async start(url: string, database: Config["database"], options: ThreadOptions): Promise<ConnectionThread> {
    const open: OpenMessage = {
      type: "open",
      url,
      busyTimeout: Math.round(database.busy_timeout),
      synchronous: database.synchronous === "full" ? "full" : "normal",
      checkpointEveryMs: options.checkpointEveryMs ?? 0,
      walSizeLimit: options.walSizeLimit ?? WAL_SIZE_LIMIT_BYTES,
      cacheKib: options.cacheKib ?? 0,
    };
    return new ConnectionThread(await spawn(open, options.name), options.name, options.onCheckpoint);
  }

  /** Runs an ingest group commit (src/ingest/commit-jobs.ts `commitUnlessStored`); resolves once it committed
   * (durably, with FULL), or with the stored records of keys found (nothing written). */
  commit(statements: InStatement[], lookup: KeyLookup | undefined, keysSince: number): Promise<[number, StoredResponse][]> {
    return this.request({ type: "commit", id: 0, statements, lookup, keysSince }) as Promise<[number, StoredResponse][]>;
  }

  /** The checkpoint thread's part in starting the WAL over (thread-worker.ts `checkpointWal`); true when a
   * RESTART could not finish (a reader kept it waiting). */
  checkpoint(mode: "catch-up" | "restart"): Promise<boolean> {
    return this.request({ type: "checkpoint", id: 0, mode }) as Promise<boolean>;
  }

  /** Runs one normaliser step on the thread (src/pipeline/thread-step.ts); resolves with its result. */
  normalise<T>(limit: number, at: number, config: Config): Promise<T> {
    return this.request({ type: "normalise", id: 0, limit, at, config }) as Promise<T>;
  }

  /** Closes the thread's connection and ends it. Call with nothing in flight. */
  async close(): Promise<void> {
    if (!this.broken) await closeConnection(this.worker);
    this.broken = true;
    this.worker.terminate();
  }

  /** Ends the thread abruptly, as a crash of the thread would (tests). */
  kill(): void {
    this.worker.terminate();
  }

  private request(m: RequestMessage): Promise<unknown> {
    if (this.broken) return Promise.reject(new Error(`${this.name} is not running; connection closed`));
    const id = this.nextId++;
    // While a request is awaited the thread keeps the process alive (a shutdown must not end before it).
    if (this.inFlight.size === 0) ref(this.worker);
    return new Promise((resolve, reject) => {
      this.inFlight.set(id, { resolve, reject });
      this.worker.postMessage({ ...m, id });
    });
  }

  private fail(error: Error): void {
    this.broken = true;
    for (const waiter of this.inFlight.values()) waiter.reject(error);
    this.inFlight.clear();
  }
}

function toError(e: WireError): Error {
  return Object.assign(new Error(e.message), e.code === undefined ? {} : { code: e.code });
}

/** One worker running thread-worker.ts, its connection open. */
async function spawn(open: OpenMessage, name: string): Promise<Worker> {
  const worker = new Worker(WORKER_SCRIPT);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not open in time`)), OPEN_TIMEOUT_MS);
      worker.addEventListener("message", (e: MessageEvent<WorkerReply>) => {
        clearTimeout(timer);
        if (e.data.type === "ready") resolve();
        else if (e.data.type === "failed") reject(new Error(e.data.error));
      }, { once: true });
      worker.addEventListener("error", (e) => (clearTimeout(timer), reject(new Error(e.message))), { once: true });
      worker.postMessage(open);
    });
  } catch (error) {
    worker.terminate();
    throw error;
  }
  // Idle, a thread must not keep the process alive on its own (a CLI run that ingested exits when done).
  unref(worker);
  return worker;
}

const ref = (worker: Worker) => (worker as Worker & { ref(): void }).ref();
const unref = (worker: Worker) => (worker as Worker & { unref(): void }).unref();

/** Asks a worker to close its connection; gives up waiting after a second. */
function closeConnection(worker: Worker): Promise<void> {
  let timer: Timer | undefined;
  ref(worker); // the close is awaited: keep the process alive until it is done (or given up)
  return Promise.race([
    new Promise<void>((resolve) => {
      worker.addEventListener("message", (e: MessageEvent<WorkerReply>) => e.data.type === "closed" && resolve());
      worker.postMessage({ type: "close" });
    }),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000))),
  ]).finally(() => clearTimeout(timer));
}
