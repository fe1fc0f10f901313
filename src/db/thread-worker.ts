/**
 * The entry point of a connection thread (a Bun Worker; see connection-thread.ts): one more connection to the
 * same database file, driven by the main thread. libSQL's local calls are synchronous, so whatever SQLite does
 * here — inserts, fsyncs, checkpoints — no longer freezes the main thread's HTTP side.
 *
 * Messages in:  open (once, first) · batch (statements as one transaction: an ingest group commit) ·
 *               normalise (one normaliser step: src/pipeline/thread-step.ts) · close (connection closed)
 * Messages out: ready | failed (open did not work) · done (per request: `result` or `error`) · closed
 */
import type { Client, InStatement } from "@libsql/client";
import type { Config } from "../config/schema";
import { statSync } from "node:fs";
import { openCachedClient } from "./cached-client";

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
  | { type: "batch"; id: number; statements: InStatement[] }
  | { type: "normalise"; id: number; limit: number; at: number; config: Config };
export type CloseMessage = { type: "close" };
export type WireError = { message: string; code?: string };
export type WorkerReply =
  | { type: "ready" }
  | { type: "failed"; error: string }
  | { type: "done"; id: number; result?: unknown; error?: WireError }
  | { type: "closed" };

let client: Client | undefined;
let url = "";
let timer: Timer | undefined;

const reply = (m: WorkerReply) => postMessage(m);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function open(m: OpenMessage): Promise<void> {
  url = m.url;
  // Statements stay prepared between commits and batches (cached-client.ts).
  const path = m.url.slice("file:".length).split("?")[0]!;
  // The checkpoint thread waits at most RESTART_WAIT_MS (see `checkpoints`): a RESTART holds off writers while
  // it waits for readers, so a long read must make it give up (and try again later), not stall ingest.
  const busyTimeout = m.checkpointEveryMs > 0 ? Math.min(m.busyTimeout, RESTART_WAIT_MS) : m.busyTimeout;
  client = openCachedClient(path, busyTimeout);
  await client.execute(`PRAGMA busy_timeout = ${busyTimeout}`);
  await client.execute(`PRAGMA synchronous = ${m.synchronous === "full" ? "FULL" : "NORMAL"}`);
  await client.execute("PRAGMA foreign_keys = ON");
  // Checkpoints are the checkpoint thread's job: never inside this connection's commits.
  await client.execute("PRAGMA wal_autocheckpoint = 0");
  await client.execute(`PRAGMA journal_size_limit = ${m.walSizeLimit}`);
  if (m.cacheKib > 0) await client.execute(`PRAGMA cache_size = -${m.cacheKib}`);
  if (m.checkpointEveryMs > 0) checkpoints(`${path}-wal`, m.checkpointEveryMs, m.walSizeLimit);
}

/** How often the checkpoint thread looks at the WAL file's size (a `stat`). */
const WAL_SIZE_CHECK_MS = 1_000;
/** A PASSIVE pass that found fewer new frames than this has caught up with the writers. */
const CAUGHT_UP_FRAMES = 1_000;
const MAX_PASSES = 8;
/** The longest a RESTART checkpoint waits for the writer of the moment, or for readers (holding off writers). */
const RESTART_WAIT_MS = 250;

/**
 * The checkpoint thread's work. Every `everyMs`, a PASSIVE checkpoint copies the WAL into the database file
 * beside the writers, never waiting for them. That is not enough under steady load: SQLite starts the WAL over
 * only when a write begins with every frame copied, and with commits every few milliseconds (or batches back to
 * back) no PASSIVE checkpoint finishes before the next commit — the WAL grew as long as the load lasted (891 MB
 * after 40 s of full `serve` load). So once the WAL file outgrows `walLimit` (journal_size_limit: the size it is
 * cut back to when it starts over, so larger means it has not started over since), PASSIVE passes repeat until
 * one finds only a few new frames, and a RESTART checkpoint copies those while holding off new writers (their
 * busy timeout covers the wait) — the next write starts the WAL over. A RESTART that cannot get the write lock
 * or the readers' release within RESTART_WAIT_MS does what it can and the next tick tries again.
 */
function checkpoints(walPath: string, everyMs: number, walLimit: number): void {
  let last = performance.now();
  const run = async (c: Client) => {
    if (walBytes(walPath) > walLimit) {
      let frames = -1;
      for (let pass = 0; pass < MAX_PASSES; pass++) {
        const now = walFrames(await c.execute("PRAGMA wal_checkpoint(PASSIVE)"));
        if (now - frames < CAUGHT_UP_FRAMES) break;
        frames = now;
      }
      await c.execute("PRAGMA wal_checkpoint(RESTART)");
    } else if (performance.now() - last >= everyMs) await c.execute("PRAGMA wal_checkpoint(PASSIVE)");
    else return;
    last = performance.now();
  };
  timer = setInterval(() => void (client && run(client).catch(() => undefined)), Math.min(everyMs, WAL_SIZE_CHECK_MS));
}

/** `wal_checkpoint`'s row is (busy, log, checkpointed): `log` is the WAL's frame count. */
const walFrames = (rs: { rows: ArrayLike<unknown>[] }) => Number(rs.rows[0]?.[1] ?? 0);

function walBytes(walPath: string): number {
  try {
    return statSync(walPath).size;
  } catch {
    return 0;
  }
}

async function run(m: RequestMessage): Promise<unknown> {
  if (m.type === "batch") {
    // One transaction (BEGIN IMMEDIATE … COMMIT): with synchronous = FULL the WAL is on disk when this returns.
    await client!.batch(m.statements, "write");
    return undefined;
  }
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
