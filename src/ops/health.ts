import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { isMigrated } from "../db/migrate";

/** `GET /healthz`: the process is alive. `GET /readyz`: the database answers and every migration is applied. */
export function healthRoutes(ctx: AppContext) {
  return new Elysia({ name: "health" })
    .get("/healthz", () => ({ status: "ok" }))
    .get("/readyz", async ({ set }) => {
      try {
        await ctx.database.read("SELECT 1");
        if (!(await isMigrated(ctx.database))) {
          set.status = 503;
          return { status: "migrations_pending" };
        }
        return { status: "ok" };
      } catch {
        set.status = 503;
        return { status: "database_unreachable" };
      }
    });
}
