import type { Config } from "../config/schema";
import type { AppContext, Service } from "../context";
import type { Database } from "../db/client";
import { now } from "../lib/clock";
import { MINUTE, SECOND } from "../lib/durations";
import { log } from "../lib/log";
import type { BatchCounts } from "./batch";
import { sweepBuffer } from "./buffer";
import { BatchConnection } from "./batch-connection";
import { zero } from "./project-apply";

/**
 * The normaliser loop (SPEC §5 step 2): takes queued items in arrival order, a batch per transaction, until
 * the queue is empty, then polls every `normaliser.idle_interval`. It never throws out of itself: an error is
 * logged, the loop backs off (up to 5 s) and goes on. Between batches it yields to I/O (`setImmediate`) so
 * the HTTP side keeps answering while a backlog drains. Every minute (or sooner, `sweepInterval`) it also
 * sweeps the buffer (buffer_ttl).
 */

export type NormaliserStats = BatchCounts & { batches: number; items: number; expired: number; errors: number };

/** Process-wide counters since start (metrics read them). */
export const normaliserStats: NormaliserStats = {
  batches: 0, items: 0, ...zero(), expired: 0, errors: 0,
};

/**
 * How often the loop sweeps the buffer: every minute, or as often as the shortest `buffer_ttl` (not below a
 * second), so that with a short TTL an event moves to quarantine about when it runs out, not up to a minute later.
 */
export function sweepInterval(config: Pick<Config, "projects">): number {
  const shortest = Math.min(...config.projects.map((p) => p.buffer_ttl));
  return Math.min(MINUTE, Math.max(SECOND, shortest));
}
const MAX_BACKOFF = 5_000;
/**
 * Catch-up: while a backlog drains (each batch came back full), batches double, up to CATCH_UP_FACTOR times
 * `batch_size`, as long as each takes under CATCH_UP_MS and no other write waits for the lock. A batch's cost is
 * a per-item part plus a part that does not shrink with the batch: the pages of users, indexes and counters it
 * dirties (every event rewrites its user's row) and the commit that writes them — about half a second per batch
 * on 100k users. Bigger batches share it: on 100k users (bench:normaliser, interleaved runs), batches of up to
 * 64,000 items / 2 s drained 30.4–31.0k items/s, up to 64,000 / 1 s (where they stop at 32,000) 24.6–28.2k,
 * up to 16,000 / 300 ms 21.6–24.8k. A batch holds the write lock for its whole duration (and, without the write
 * thread, the main thread), so an ingest commit arriving meanwhile waits for it — at most CATCH_UP_MS, once per
 * catch-up: as soon as one waits, batches go back to `batch_size`. When the queue is shallow, batches take what
 * is there (at most `batch_size`).
 */
export const CATCH_UP_FACTOR = 64;
export const CATCH_UP_MS = 2_000;

/** The next batch size: doubles while batches come back full and quick; halves when one took twice too long;
 * back to `base` once one is not full, or while other writes (ingest commits) wait for the write lock — a
 * catch-up must not make every 202 wait behind a long batch. */
export function nextLimit(limit: number, taken: number, base: number, ms = 0, contended = false): number {
  if (taken < limit || contended) return base;
  if (ms > CATCH_UP_MS * 2) return Math.max(base, Math.floor(limit / 2));
  if (ms > CATCH_UP_MS) return limit;
  return Math.min(limit * 2, base * CATCH_UP_FACTOR);
}

type Deps = { config: Config; database: Database };

function record(taken: number, counts: BatchCounts): void {
  normaliserStats.batches++;
  normaliserStats.items += taken;
  for (const k of Object.keys(counts) as (keyof BatchCounts)[]) normaliserStats[k] += counts[k];
}

/**
 * Applies what is queued now — not what arrives meanwhile, so a steady stream of requests cannot keep it going —
 * beside (or without) the running normaliser: each batch is claimed, applied and deleted in one write
 * transaction, so two processes or loops never apply an item twice. An evaluation on demand (`vibefollow
 * evaluate`, the dashboard's "Evaluate now") calls it first, so it sees every request acknowledged before it.
 * The queue only grows at its end, so taking as many items as its seq range holds now covers all of them.
 */
export async function applyQueued(ctx: Deps): Promise<void> {
  const span = (await ctx.database.read("SELECT max(seq) - min(seq) + 1 AS n FROM ingest_queue")).rows[0]?.n;
  if (span != null) await drainQueue(ctx, BatchConnection.inline(ctx), { atMost: Number(span) });
}

/**
 * Applies everything queued (or stops once it took `atMost` items), batch after batch, then sweeps the buffer;
 * returns the totals. Tests and the CLI call it when background loops are off (on the main thread, unless given
 * a `connection`).
 */
export async function drainQueue(ctx: Deps, connection = BatchConnection.inline(ctx), { atMost = Infinity } = {}): Promise<NormaliserStats> {
  const total: NormaliserStats = { batches: 0, items: 0, ...zero(), expired: 0, errors: 0 };
  const base = ctx.config.normaliser.batch_size;
  let limit = base;
  while (total.items < atMost) {
    const started = performance.now();
    const step = await connection.step(limit);
    if (step.taken === 0) break;
    limit = nextLimit(limit, step.taken, base, performance.now() - started, step.contended);
    record(step.taken, step.counts);
    total.batches++;
    total.items += step.taken;
    for (const k of Object.keys(step.counts) as (keyof BatchCounts)[]) total[k] += step.counts[k];
    await yieldToIo();
  }
  total.expired = await sweepBuffer(ctx.database, ctx.config);
  normaliserStats.expired += total.expired;
  return total;
}

const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The loop as a Service (registered in src/services.ts). */
export function createNormaliser(ctx: Pick<AppContext, "config" | "database">): Service {
  const { batch_size: batchSize, idle_interval: idle } = ctx.config.normaliser;
  const sweepEvery = sweepInterval(ctx.config);
  let running = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => ((wake = undefined), resolve()), ms);
      wake = () => (clearTimeout(timer), (wake = undefined), resolve());
    });

  async function run(): Promise<void> {
    const connection = await BatchConnection.open(ctx);
    try {
      await loopOn(connection);
    } finally {
      await connection.close();
    }
  }

  async function loopOn(connection: BatchConnection): Promise<void> {
    let backoff = 0;
    let lastSweep = -Infinity;
    let unknownSwept = false;
    let limit = batchSize;
    while (running) {
      try {
        const started = performance.now();
        const step = await connection.step(limit);
        if (step.taken > 0) record(step.taken, step.counts);
        limit = nextLimit(limit, step.taken, batchSize, performance.now() - started, step.contended);
        if (now() - lastSweep >= sweepEvery) {
          lastSweep = now();
          // Rows of projects no longer configured can only date from before this start: looked for until found once.
          normaliserStats.expired += await sweepBuffer(ctx.database, ctx.config, lastSweep, { unknownProjects: !unknownSwept });
          unknownSwept = true;
        }
        backoff = 0;
        if (step.taken === 0) await pause(idle);
        else {
          // Writes that queued behind this batch (ingest commits) go first, so the next poll sees their rows
          // instead of an empty queue and a whole idle interval: an empty turn of the write lock waits for them.
          await ctx.database.exclusive(async () => undefined);
          await yieldToIo();
        }
      } catch (error) {
        normaliserStats.errors++;
        backoff = Math.min(Math.max(backoff * 2, 100), MAX_BACKOFF);
        if (running) log.error("normaliser step failed; backing off", { error, backoffMs: backoff });
        await pause(backoff);
      }
    }
  }

  return {
    name: "normaliser",
    start() {
      if (running) return;
      running = true;
      loop = run();
    },
    /** Lets the batch in flight commit, then resolves (SIGTERM: "let the normaliser finish its batch"). */
    async stop() {
      running = false;
      wake?.();
      await loop;
    },
  };
}
