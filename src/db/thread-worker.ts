/**
 * The entry point of a connection thread (a Bun Worker; see connection-thread.ts): one more connection to the
 * same database file, driven by the main thread. libSQL's local calls are synchronous, so whatever SQLite does
 * here — inserts, fsyncs, checkpoints — no longer freezes the main thread's HTTP side.
 *
 * Messages in:  open (once, first) · commit (an ingest group commit, one transaction: src/ingest/commit-jobs.ts) ·
 *               normalise (one normaliser step: src/pipeline/thread-step.ts) · checkpoint (the checkpoint
 *               thread's part in starting the WAL over) · close (connection closed)
 * Messages out: ready | failed (open did not work) · done (per request: `result` or `error`) · closed
 */
import type { Client, InStatement } from "@libsql/client";
import type { Config } from "../config/schema";
import { openCachedClient } from "./cached-client";
import { FileFlusher } from "./flush-file";
import { commitUnlessStored, type KeyLookup } from "../ingest/commit-jobs";

declare const self: Worker;

export type OpenMessage = {
  type: "open";
  url: string;
  busyTimeout: number;
  synchronous: "full" | "normal";
  /** > 0: this thread runs the WAL checkpoints (the checkpoint thread), a PASSIVE one on this period. */
  checkpointEveryMs: number;
  walSizeLimit: number;
  cacheKib: number;
};
export type RequestMessage =
  | { type: "commit"; id: number; statements: InStatement[]; lookup?: KeyLookup; keysSince: number }
  | { type: "normalise"; id: number; limit: number; at: number; config: Config }
  | { type: "checkpoint"; id: number; mode: "catch-up" | "restart" };
export type CloseMessage = { type: "close" };
export type WireError = { message: string; code?: string };
export type WorkerReply =
  | { type: "ready" }
  | { type: "failed"; error: string }
  | { type: "done"; id: number; result?: unknown; error?: WireError }
  | { type: "closed" }
  /** The checkpoint thread, after a checkpoint that copied pages (a PASSIVE pass) or a RESTART: counted for
   * `/metrics` (write-thread.ts `walStats`). `flushed`: the copied pages were synced to disk (flush-file.ts). */
  | { type: "checkpointed"; mode: "passive" | "restart"; flushed: boolean };

let client: Client | undefined;
let url = "";
let timer: Timer | undefined;
/** The checkpoint thread's: the database file's pages go to disk after each pass that copied some. */
let flusher: FileFlusher | undefined;
let flushedAt = -1;

const reply = (m: WorkerReply) => postMessage(m);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function open(m: OpenMessage): Promise<void> {
  url = m.url;
  // Statements stay prepared between commits and batches (cached-client.ts).
  const path = m.url.slice("file:".length).split("?")[0]!;
  // The checkpoint thread waits at most RESTART_WAIT_MS: its RESTART runs while the main thread holds the write
  // lock, so a long read must make it give up (the WAL starts over at a later try), not stall every writer.
  const busyTimeout = m.checkpointEveryMs > 0 ? Math.min(m.busyTimeout, RESTART_WAIT_MS) : m.busyTimeout;
  client = openCachedClient(path, busyTimeout);
  await client.execute(`PRAGMA busy_timeout = ${busyTimeout}`);
  await client.execute(`PRAGMA synchronous = ${m.synchronous === "full" ? "FULL" : "NORMAL"}`);
  await client.execute("PRAGMA foreign_keys = ON");
  // Checkpoints are the checkpoint thread's job: never inside this connection's commits.
  await client.execute("PRAGMA wal_autocheckpoint = 0");
  await client.execute(`PRAGMA journal_size_limit = ${m.walSizeLimit}`);
  if (m.cacheKib > 0) await client.execute(`PRAGMA cache_size = -${m.cacheKib}`);
  if (m.checkpointEveryMs > 0) {
    flusher = new FileFlusher(path);
    timer = setInterval(() => void passive().catch(() => undefined), m.checkpointEveryMs);
  }
}

/**
 * One PASSIVE checkpoint pass (never waits for writers); returns the WAL's length in frames. The pages it copied
 * are flushed to disk right away, so that they never bunch up into the one large sync of the database file that
 * SQLite makes before the WAL starts over (flush-file.ts). `wal_checkpoint`'s row is (busy, log frames,
 * checkpointed frames).
 */
async function passive(): Promise<number> {
  const row = (await client!.execute("PRAGMA wal_checkpoint(PASSIVE)")).rows[0];
  const checkpointed = Number(row?.[2] ?? -1);
  if (checkpointed > 0 && checkpointed !== flushedAt) {
    flushedAt = checkpointed;
    reply({ type: "checkpointed", mode: "passive", flushed: flusher?.flush() ?? false });
  }
  return Number(row?.[1] ?? 0);
}

/** The longest the checkpoint thread's RESTART waits for readers to leave the WAL. */
const RESTART_WAIT_MS = 250;
/** A PASSIVE pass that found fewer new frames than this has caught up with the writers. */
const CAUGHT_UP_FRAMES = 1_000;
const MAX_PASSES = 8;

/**
 * The checkpoint thread's part in making the WAL start over (src/db/write-thread.ts `restartWal`): "catch-up"
 * repeats PASSIVE passes, beside the writers, until one finds only a few new frames; "restart", run while the
 * main thread holds the write lock (so no commit is running or starts), copies those and leaves the WAL to be
 * started over by the next write. The answer is whether the RESTART stayed busy (a reader kept it waiting past
 * its busy timeout).
 */
async function checkpointWal(mode: "catch-up" | "restart"): Promise<boolean> {
  if (mode === "restart") {
    const busy = Number((await client!.execute("PRAGMA wal_checkpoint(RESTART)")).rows[0]?.[0]) !== 0;
    if (!busy) reply({ type: "checkpointed", mode: "restart", flushed: false });
    return busy;
  }
  let frames = -1;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const now = await passive();
    if (now - frames < CAUGHT_UP_FRAMES) break;
    frames = now;
  }
  return false;
}

async function run(m: RequestMessage): Promise<unknown> {
  // An ingest group commit, one transaction (BEGIN IMMEDIATE … COMMIT): with synchronous = FULL the WAL is on disk
  // when it returns. Its Idempotency-Key lookup runs inside it (src/ingest/commit-jobs.ts).
  if (m.type === "commit") return commitUnlessStored(client!, m.statements, m.lookup, m.keysSince);
  if (m.type === "checkpoint") return checkpointWal(m.mode);
  // Loaded on first use: the checkpoint thread, and a write thread that only commits ingest, never need it.
  const { normaliseOnThread } = await import("../pipeline/thread-step");
  return normaliseOnThread(client!, url, m);
}

self.onmessage = async (event: MessageEvent<OpenMessage | RequestMessage | CloseMessage>) => {
  const m = event.data;
  if (m.type === "close") {
    clearInterval(timer);
    client?.close();
    client = undefined;
    reply({ type: "closed" });
    return;
  }
  if (m.type === "open") {
    try {
      await open(m);
      reply({ type: "ready" });
    } catch (e) {
      reply({ type: "failed", error: message(e) });
    }
    return;
  }
  try {
    reply({ type: "done", id: m.id, result: await run(m) });
  } catch (e) {
    const code = (e as { code?: unknown })?.code;
    reply({ type: "done", id: m.id, error: { message: message(e), ...(typeof code === "string" ? { code } : {}) } });
  }
};
