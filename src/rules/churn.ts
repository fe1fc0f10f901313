import type { ProjectConfig } from "../config/schema";
import type { Database, Transaction } from "../db/client";

/**
 * SPEC §5.5: `cancelled` becomes `churned` once `effectiveAt` (or the cancel time) plus `churn_grace` has
 * passed — checked by the evaluator before the rules run, so `win_back` sees the new stage in the same run.
 * The normaliser sets `churn_at`; a user without one falls back to the cancel time plus the project's grace.
 * The stage is dated at the churn time itself (not the run), so `win_back`'s delay counts from the real churn.
 * History row and stage change are written in the same transaction.
 */
export async function applyChurnIn(tx: Transaction, project: Pick<ProjectConfig, "id" | "churn_grace">, at: number): Promise<number> {
  const churnAt = "COALESCE(churn_at, stage_changed_at + ?)";
  const due = `project_id = ? AND stage = 'cancelled' AND ${churnAt} <= ?`;
  const dueArgs = [project.id, project.churn_grace, at];
  await tx.execute({
    sql: `INSERT INTO stage_history (project_id, user_id, from_stage, to_stage, at)
          SELECT project_id, id, 'cancelled', 'churned', ${churnAt} FROM tracked_users WHERE ${due}`,
    args: [project.churn_grace, ...dueArgs],
  });
  const r = await tx.execute({
    sql: `UPDATE tracked_users SET stage = 'churned', stage_changed_at = ${churnAt}, updated_at = ? WHERE ${due}`,
    args: [project.churn_grace, at, ...dueArgs],
  });
  return r.rowsAffected;
}

/** `applyChurnIn` in its own write transaction. */
export function applyChurn(database: Database, project: Pick<ProjectConfig, "id" | "churn_grace">, at: number): Promise<number> {
  return database.write((tx) => applyChurnIn(tx, project, at));
}
