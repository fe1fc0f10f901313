import type { Config } from "../config/schema";
import type { Database } from "../db/client";
import { acquireWriteThread, type WriteThreadLease } from "../db/write-thread";
import { now } from "../lib/clock";
import { log } from "../lib/log";
import { processBatch, queueIsEmpty, type StepResult } from "./process-batch";
import { zero } from "./project-apply";
import { projectSettings } from "./settings";

/**
 * Where the normaliser's batches run. With `normaliser.thread` (the default) on the database's write thread
 * (src/db/write-thread.ts), whole: reading the queue, the items' JavaScript, the statements and the commit
 * (src/pipeline/thread-step.ts). The main thread holds the write lock meanwhile, as for any write, and keeps
 * answering HTTP; ingest commits on the same connection, so neither starts its transactions with a cold page
 * cache. If the thread cannot start or dies, batches run on the main thread from then on (a batch in flight on
 * a dying thread fails as a storage error: the loop backs off and takes it again — nothing was committed).
 */
export class BatchConnection {
  private readonly settings;

  private constructor(
    private readonly ctx: { config: Config; database: Database },
    private thread: WriteThreadLease | undefined,
  ) {
    this.settings = projectSettings(ctx.config);
  }

  /** Batches on the main connection only (tests and the CLI drain inline). */
  static inline(ctx: { config: Config; database: Database }): BatchConnection {
    return new BatchConnection(ctx, undefined);
  }

  static async open(ctx: { config: Config; database: Database }): Promise<BatchConnection> {
    if (!ctx.config.normaliser.thread || !ctx.database.url.startsWith("file:")) return BatchConnection.inline(ctx);
    try {
      return new BatchConnection(ctx, await acquireWriteThread(ctx.database, ctx.config.database));
    } catch (error) {
      log.warn("write thread unavailable; normaliser batches run on the main thread", { error });
      return BatchConnection.inline(ctx);
    }
  }

  get threaded(): boolean {
    return this.thread !== undefined && !this.thread.broken;
  }

  /** Applies up to `limit` queued items (processBatch's contract), on the thread when there is one. */
  async step(limit: number): Promise<StepResult> {
    const { database, config } = this.ctx;
    const thread = this.thread;
    if (thread && !thread.broken) {
      if (await queueIsEmpty(database)) return { taken: 0, counts: zero() };
      return database.exclusive(async () => {
        const step = await thread.normalise<StepResult>(limit, now(), config);
        // Asked before the lock is let go: whoever queued during the batch is still waiting.
        return { ...step, contended: database.writersWaiting > 0 };
      });
    }
    if (thread) {
      log.error("write thread stopped; normaliser batches run on the main thread from now on");
      this.thread = undefined;
      await thread.close();
    }
    return processBatch(database, this.settings, limit);
  }

  async close(): Promise<void> {
    await this.thread?.close();
    this.thread = undefined;
  }
}
