import { Elysia } from "elysia";
import type { AppContext } from "./context";
import { ApiError } from "./lib/errors";
import { log } from "./lib/log";
import { healthRoutes } from "./ops/health";
import { metricsRoutes } from "./ops/metrics";
import { ingestRoutes } from "./ingest";
import { mailRoutes } from "./mail";
import { segmentRoutes } from "./segment";
import { dashboardRoutes } from "./dashboard";

/**
 * The HTTP application: every capability's routes, plus the one place that turns errors into responses.
 * An `ApiError` becomes the SPEC envelope; anything else is logged with a request id and answered
 * `500 server_error` — never a stack trace or SQL.
 */
export function createApp(ctx: AppContext, extra: Elysia<any>[] = []) {
  const app = new Elysia()
    .onError(({ error, code, request }) => {
      if (error instanceof ApiError) {
        return Response.json(error.body(), { status: error.status, headers: error.headers });
      }
      if (code === "NOT_FOUND") {
        return Response.json({ errors: [{ code: "not_found", message: "No such route." }] }, { status: 404 });
      }
      if (code === "PARSE") {
        return Response.json({ errors: [{ code: "invalid_json", message: "The body is not valid JSON." }] }, { status: 400 });
      }
      const requestId = crypto.randomUUID();
      log.error("request failed", { requestId, method: request.method, path: new URL(request.url).pathname, error });
      return Response.json(
        { errors: [{ code: "server_error", message: `Internal error (request ${requestId}).` }] },
        { status: 500 },
      );
    })
    .use(healthRoutes(ctx))
    .use(metricsRoutes(ctx))
    .use(ingestRoutes(ctx))
    .use(mailRoutes(ctx))
    .use(segmentRoutes(ctx))
    .use(dashboardRoutes(ctx));
  for (const plugin of extra) app.use(plugin);
  return app;
}
