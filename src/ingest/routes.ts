import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { postOnly } from "../lib/errors";
import { ENDPOINTS } from "./endpoints";
import { handleIngest, type IngestDeps } from "./handler";
import { idempotencyPurgeService, IdempotencyStore } from "./idempotency";
import { RateLimiter } from "./rate-limit";
import { acquireWriteThread } from "../db/write-thread";
import { GroupCommitWriter } from "./writer";

const writers = new WeakMap<AppContext, GroupCommitWriter>();

/**
 * The one group-commit writer of a running app, created (and registered as a service, so shutdown flushes
 * it) on first use. Other ingest paths (Segment, replay) should enqueue through it too, so every queue write
 * shares the same commits.
 */
export function ingestWriterFor(ctx: AppContext): GroupCommitWriter {
  let writer = writers.get(ctx);
  if (!writer) {
    const { ingest, database } = ctx.config;
    // The write thread needs a file it can open a second connection to (not a remote libsql:// URL).
    const threaded = ingest.commit_thread && ctx.database.url.startsWith("file:");
    writer = new GroupCommitWriter(ctx.database, {
      maxItems: ingest.commit_max_items,
      intervalMs: ingest.commit_interval,
      startThread: threaded ? () => acquireWriteThread(ctx.database, database) : undefined,
    });
    writers.set(ctx, writer);
    ctx.services.push(writer);
  }
  return writer;
}

/**
 * `POST /api/v1/users`, `/users/bulk`, `/events`, `/events/batch`, `/events/bulk` (SPEC §3). The body is not
 * parsed by the framework (`parse: "none"`): `handler.ts` reads the raw bytes itself to own the limits.
 */
export function ingestRoutes(ctx: AppContext) {
  const ingest = ctx.config.ingest;
  const idempotency = new IdempotencyStore(ctx.database);
  const deps: IngestDeps = {
    database: ctx.database,
    keys: ctx.keys,
    limiter: new RateLimiter((endpoint) => ingest.rate_limits[endpoint] ?? ingest.rate_limit),
    idempotency,
    writer: ingestWriterFor(ctx),
    backfillQueueLimit: ingest.backfill_queue_limit,
  };
  ctx.services.push(idempotencyPurgeService(idempotency));
  const app = new Elysia();
  for (const endpoint of ENDPOINTS) {
    app.post(endpoint.path, ({ request }) => handleIngest(deps, endpoint, request), { parse: "none" });
    app.all(endpoint.path, postOnly);
  }
  return app;
}
