import { Cron } from "croner";
import type { Config } from "../config/schema";
import type { Service } from "../context";
import type { Database } from "../db/client";
import { now } from "../lib/clock";
import { DAY } from "../lib/durations";
import { log } from "../lib/log";

const CHUNK = 5_000;

/**
 * Deletes events older than each project's `retention_days` (0 = keep forever). Never queue items or
 * quarantine. Deletes in chunks so the write lock is never held for long while ingest keeps committing.
 */
export async function applyRetention(database: Database, config: Config, at = now()): Promise<Record<string, number>> {
  const deleted: Record<string, number> = {};
  for (const project of config.projects) {
    if (project.retention_days <= 0) continue;
    const cutoff = at - project.retention_days * DAY;
    let total = 0;
    for (;;) {
      const r = await database.execute({
        sql: "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE project_id = ? AND occurred_at < ? LIMIT ?)",
        args: [project.id, cutoff, CHUNK],
      });
      total += r.rowsAffected;
      if (r.rowsAffected < CHUNK) break;
      await new Promise((r) => setImmediate(r));
    }
    deleted[project.id] = total;
  }
  return deleted;
}

/** Runs retention once a day (03:17 UTC) and once shortly after start. */
export function retentionService(ctx: { config: Config; database: Database }): Service {
  let job: Cron | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const run = () => {
    running = applyRetention(ctx.database, ctx.config)
      .then((deleted) => Object.keys(deleted).length && log.info("retention", { deleted }))
      .catch((error) => log.error("retention failed", { error }));
  };
  return {
    name: "retention",
    start() {
      if (!ctx.config.projects.some((p) => p.retention_days > 0)) return;
      job = new Cron("17 3 * * *", { timezone: "UTC", protect: true }, run);
      run();
    },
    async stop() {
      job?.stop();
      await running;
    },
  };
}
