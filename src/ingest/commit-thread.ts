import type { InStatement } from "@libsql/client";
import type { Config } from "../config/schema";
import { WAL_SIZE_LIMIT_BYTES } from "../db/client";
import type { CommitMessage, OpenMessage, WorkerReply } from "./commit-worker";

/**
 * How often the checkpoint thread copies the WAL into the database file (PASSIVE: never waits for writers).
 * Each checkpoint's I/O still slows the commits around it (same disk): every second, it lifted the p99 of
 * single events at half load from ~8 ms to ~15 ms; every 10 s, it stays under the 10 ms bar.
 */
const CHECKPOINT_EVERY_MS = 10_000;
/**
 * The worker's script. In the compiled binary it is an embedded entrypoint (scripts/build.ts), addressed by its
 * path under src/; the bundler would turn `import.meta.url` into this machine's source path.
 */
const WORKER_SCRIPT = Bun.main.startsWith("/$bunfs/") ? "./ingest/commit-worker.ts" : new URL("./commit-worker.ts", import.meta.url).href;

/** How long the thread may take to open its connection before the writer gives up on it. */
const OPEN_TIMEOUT_MS = 10_000;

/**
 * The main thread's handle on the ingest commit thread (commit-worker.ts): `commit` hands it one group
 * commit's statements and resolves once they are durable. libSQL's local calls are synchronous, so a commit on
 * the main thread would freeze HTTP for the whole write and fsync; on the thread it costs the main thread one
 * message each way.
 *
 * The caller holds the Database's write lock around each `commit`, so this connection's transactions never
 * meet the main connection's (no SQLITE_BUSY between them). A second worker, the checkpoint thread, only runs
 * the WAL checkpoints. If either dies, commits in flight fail (their requests get 500, never a 202) and `broken`
 * is set: the writer goes back to committing (and checkpointing) on the main thread. (Checked by hand: a worker
 * terminated inside a write transaction leaves no lock behind; the main connection writes right after.)
 */
export class CommitThread {
  private readonly inFlight = new Map<number, { resolve(): void; reject(e: Error): void }>();
  private nextId = 1;
  broken = false;

  private constructor(
    private readonly worker: Worker,
    private readonly checkpointer: Worker,
  ) {
    worker.addEventListener("message", (e: MessageEvent<WorkerReply>) => {
      const m = e.data;
      if (m.type !== "done") return;
      const waiter = this.inFlight.get(m.id);
      this.inFlight.delete(m.id);
      if (this.inFlight.size === 0) unref(worker);
      if (m.error === undefined) waiter?.resolve();
      else waiter?.reject(new Error(m.error));
    });
    for (const w of [worker, checkpointer]) {
      w.addEventListener("error", (e) => this.fail(new Error(`ingest commit thread failed: ${e.message}`)));
      w.addEventListener("close", () => this.fail(new Error("ingest commit thread exited")));
    }
  }

  /**
   * Starts the commit thread and the checkpoint thread and opens their connections; rejects when that is not
   * possible (the writer then commits inline).
   */
  static async start(url: string, database: Config["database"], checkpointEveryMs = CHECKPOINT_EVERY_MS): Promise<CommitThread> {
    const open = (checkpointEveryMs: number): OpenMessage => ({
      type: "open",
      url,
      busyTimeout: Math.round(database.busy_timeout),
      synchronous: database.synchronous === "full" ? "full" : "normal",
      checkpointEveryMs,
      walSizeLimit: WAL_SIZE_LIMIT_BYTES,
    });
    const started = await Promise.allSettled([spawn(open(0)), spawn(open(checkpointEveryMs))]);
    const [worker, checkpointer] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined));
    if (!worker || !checkpointer) {
      worker?.terminate();
      checkpointer?.terminate();
      throw (started.find((r) => r.status === "rejected") as PromiseRejectedResult).reason;
    }
    return new CommitThread(worker, checkpointer);
  }

  commit(statements: InStatement[]): Promise<void> {
    if (this.broken) return Promise.reject(new Error("ingest commit thread is not running"));
    const id = this.nextId++;
    // While a commit is awaited the thread keeps the process alive (a shutdown must not end before it).
    if (this.inFlight.size === 0) ref(this.worker);
    return new Promise<void>((resolve, reject) => {
      this.inFlight.set(id, { resolve, reject });
      this.worker.postMessage({ type: "commit", id, statements } satisfies CommitMessage);
    });
  }

  /** Closes the threads' connections and ends them. Call with no commit in flight. */
  async close(): Promise<void> {
    if (!this.broken) await Promise.all([closeConnection(this.worker), closeConnection(this.checkpointer)]);
    this.broken = true;
    this.worker.terminate();
    this.checkpointer.terminate();
  }

  /** Ends the thread abruptly, as a crash of the thread would (tests). */
  kill(): void {
    this.worker.terminate();
    this.checkpointer.terminate();
  }

  private fail(error: Error): void {
    this.broken = true;
    for (const waiter of this.inFlight.values()) waiter.reject(error);
    this.inFlight.clear();
  }
}

/** One worker running commit-worker.ts, its connection open. */
async function spawn(open: OpenMessage): Promise<Worker> {
  const worker = new Worker(WORKER_SCRIPT);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("ingest commit thread did not open in time")), OPEN_TIMEOUT_MS);
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
  // Idle, the threads must not keep the process alive on their own (a CLI run that ingested exits when done).
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
