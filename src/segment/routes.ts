import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { postOnly } from "../lib/errors";
import { RateLimiter } from "../ingest/rate-limit";
import { ingestWriterFor } from "../ingest/routes";
import { MessageClaims } from "./dedupe";
import { handleSegment, type SegmentDeps, type SegmentPath } from "./handler";

const PATHS: readonly SegmentPath[] = ["batch", "identify", "track", "page", "screen", "group", "alias"];

/**
 * The Segment HTTP tracking API (SPEC §13): `POST /v1/batch`, `/v1/identify`, `/v1/track`, and `/v1/page`,
 * `/v1/screen`, `/v1/group`, `/v1/alias` (authenticated, then ignored). Rows go through the ingest API's
 * group-commit writer. The rate limit is `ingest.rate_limits.segment`, else `ingest.rate_limit`.
 */
export function segmentRoutes(ctx: AppContext) {
  const ingest = ctx.config.ingest;
  const deps: SegmentDeps = {
    keys: ctx.keys,
    limiter: new RateLimiter((endpoint) => ingest.rate_limits[endpoint] ?? ingest.rate_limit),
    writer: ingestWriterFor(ctx),
    claims: new MessageClaims(),
  };
  const app = new Elysia();
  for (const path of PATHS) {
    app.post(`/v1/${path}`, ({ request }) => handleSegment(deps, path, request), { parse: "none" });
    app.all(`/v1/${path}`, postOnly);
  }
  return app;
}
