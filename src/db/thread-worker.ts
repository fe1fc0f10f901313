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
import { openCachedClient } from "./cached-client";

declare const self: Worker;

export type OpenMessage = {
  type: "open";
  url: string;
  busyTimeout: number;
  synchronous: "full" | "normal";
  /** > 0: this thread runs a PASSIVE WAL checkpoint on this period (the checkpoint thread). */
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
  client = openCachedClient(m.url.slice("file:".length).split("?")[0]!, m.busyTimeout);
  await client.execute(`PRAGMA busy_timeout = ${m.busyTimeout}`);
  await client.execute(`PRAGMA synchronous = ${m.synchronous === "full" ? "FULL" : "NORMAL"}`);
  await client.execute("PRAGMA foreign_keys = ON");
  // Checkpoints are the checkpoint thread's job: never inside this connection's commits.
  await client.execute("PRAGMA wal_autocheckpoint = 0");
  await client.execute(`PRAGMA journal_size_limit = ${m.walSizeLimit}`);
  if (m.cacheKib > 0) await client.execute(`PRAGMA cache_size = -${m.cacheKib}`);
  if (m.checkpointEveryMs > 0) {
    timer = setInterval(() => void client?.execute("PRAGMA wal_checkpoint(PASSIVE)").catch(() => undefined), m.checkpointEveryMs);
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
