import { accessSync, constants } from "node:fs";
import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { filePathOf } from "../db/client";
import { fileIdentity, isSameFile, type FileIdentity } from "../db/file-identity";
import { isMigrated } from "../db/migrate";

/**
 * `GET /healthz`: the process is alive. `GET /readyz`: the database answers and every migration is applied —
 * and, for a database file, it is still the file this process opened, not emptied, and writable. Open
 * connections keep working on a deleted or replaced file (POSIX keeps the old one alive for them), so a query
 * alone would say "ok" while every write went to a file nobody will ever open again.
 */
export function healthRoutes(ctx: AppContext) {
  const path = filePathOf(ctx.database.url);
  const opened = path === undefined ? undefined : fileIdentity(path);
  return new Elysia({ name: "health" })
    .get("/healthz", () => ({ status: "ok" }))
    .get("/readyz", async ({ set }) => {
      try {
        if (path !== undefined && !isSameWritableFile(path, opened)) throw new Error("database file gone, replaced, emptied or read-only");
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

function isSameWritableFile(path: string, opened: FileIdentity | undefined): boolean {
  try {
    if (!isSameFile(path, opened)) return false;
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
