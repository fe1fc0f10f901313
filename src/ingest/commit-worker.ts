/**
 * The entry point of the ingest commit thread and of the checkpoint thread (Bun Workers; see commit-thread.ts).
 * Each owns one more connection to the same database file. The commit thread runs, for the main thread, the
 * one transaction of each group commit — so the main thread keeps reading and answering HTTP requests while
 * SQLite writes and fsyncs. The checkpoint thread (`checkpointEveryMs` > 0) runs the WAL checkpoints (PASSIVE,
 * on a timer): on the main thread they would stall HTTP, on the commit thread they would hold up commits.
 *
 * Messages in:  open (once, first) · commit (one transaction) · close (checkpoint timer off, connection closed)
 * Messages out: ready | failed (open did not work) · done (with `error` when the commit failed) · closed
 */
import { createClient, type Client, type InStatement } from "@libsql/client";

declare const self: Worker;

export type OpenMessage = { type: "open"; url: string; busyTimeout: number; synchronous: "full" | "normal"; checkpointEveryMs: number; walSizeLimit: number };
export type CommitMessage = { type: "commit"; id: number; statements: InStatement[] };
export type CloseMessage = { type: "close" };
export type WorkerReply = { type: "ready" } | { type: "failed"; error: string } | { type: "done"; id: number; error?: string } | { type: "closed" };

let client: Client | undefined;
let timer: Timer | undefined;

const reply = (m: WorkerReply) => postMessage(m);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function open(m: OpenMessage): Promise<void> {
  client = createClient({ url: m.url, concurrency: 1, timeout: m.busyTimeout });
  await client.execute(`PRAGMA busy_timeout = ${m.busyTimeout}`);
  await client.execute(`PRAGMA synchronous = ${m.synchronous === "full" ? "FULL" : "NORMAL"}`);
  // Checkpoints are the checkpoint thread's job alone: never inside a commit (the main connection has them off too).
  await client.execute("PRAGMA wal_autocheckpoint = 0");
  await client.execute(`PRAGMA journal_size_limit = ${m.walSizeLimit}`);
  if (m.checkpointEveryMs > 0) {
    timer = setInterval(() => void client?.execute("PRAGMA wal_checkpoint(PASSIVE)").catch(() => undefined), m.checkpointEveryMs);
  }
}

self.onmessage = async (event: MessageEvent<OpenMessage | CommitMessage | CloseMessage>) => {
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
    // One transaction (BEGIN IMMEDIATE … COMMIT): with synchronous = FULL the WAL is on disk when this returns.
    await client!.batch(m.statements, "write");
    reply({ type: "done", id: m.id });
  } catch (e) {
    reply({ type: "done", id: m.id, error: message(e) });
  }
};
