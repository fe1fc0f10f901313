import type { Database, Transaction } from "../db/client";
import { log } from "../lib/log";
import { getHooks, NO_EVENTS } from "./hooks";

/** When a due churn happened, as it is recorded: `churn_at`, never before the cancellation itself. `table` is the
 * users table's alias as a prefix (`"u."`); the cancellation rule reads a churn that is due the same way. */
export const churnTimeSql = (table = "") => `max(${table}churn_at, coalesce(${table}stage_changed_at, ${table}churn_at))`;

/**
 * SPEC §5.5: `cancelled` becomes `churned` once `churn_at` (effectiveAt or the cancel time, plus the project's
 * `churn_grace`) has passed. The hourly evaluator calls this; the stage change is recorded at `churn_at` (when
 * it happened), never earlier than the cancellation itself. Returns the ids of the users moved.
 */
export async function applyChurnIn(tx: Transaction, projectId: string, at: number): Promise<number[]> {
  const when = churnTimeSql();
  await tx.execute({
    sql: `INSERT INTO stage_history (project_id, user_id, from_stage, to_stage, at)
          SELECT project_id, id, 'cancelled', 'churned', ${when} FROM tracked_users
          WHERE project_id = ? AND stage = 'cancelled' AND churn_at <= ?`,
    args: [projectId, at],
  });
  const rs = await tx.execute({
    sql: `UPDATE tracked_users SET stage = 'churned', stage_changed_at = ${when}, updated_at = ?
          WHERE project_id = ? AND stage = 'cancelled' AND churn_at <= ? RETURNING id`,
    args: [at, projectId, at],
  });
  const ids = rs.rows.map((r) => Number(r.id));
  const hook = getHooks().afterApply;
  if (hook && ids.length > 0) {
    await tx.execute("SAVEPOINT churn_hook");
    try {
      // Only the stage changed (and stage_changed_at, which no filter reads).
      const changes = new Map(ids.map((id) => [id, { fields: STAGE_ONLY, events: NO_EVENTS }]));
      await hook(tx, projectId, ids, at, changes);
      await tx.execute("RELEASE churn_hook");
    } catch (error) {
      log.error("after-apply hook failed during churn; its writes were undone", { error });
      await tx.execute("ROLLBACK TO churn_hook");
      await tx.execute("RELEASE churn_hook");
    }
  }
  return ids;
}

const STAGE_ONLY: ReadonlySet<string> = new Set(["stage"]);

/** `applyChurnIn` in its own transaction. */
export function applyChurn(database: Database, projectId: string, at: number): Promise<number[]> {
  return database.write((tx) => applyChurnIn(tx, projectId, at));
}
