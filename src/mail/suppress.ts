import { now } from "../lib/clock";
import type { Executor } from "./tokens";

const OPEN_DRAFTS = "('pending_review', 'scheduled')";

/**
 * Suppresses one user of a project at once (unsubscribe): the user row, the address, and every open draft of the
 * user is cancelled with the reason. Run inside a write transaction.
 */
export async function suppressUser(tx: Executor, projectId: string, userId: number, reason: string, actor: string): Promise<{ email: string | null; changed: boolean } | undefined> {
  const row = (await tx.execute({ sql: "SELECT email FROM tracked_users WHERE id = ? AND project_id = ?", args: [userId, projectId] })).rows[0];
  if (!row) return undefined;
  const at = now();
  const updated = await tx.execute({
    sql: `UPDATE tracked_users SET suppressed = 1, suppressed_reason = ?, suppressed_at = ?, updated_at = ?
          WHERE id = ? AND suppressed = 0`,
    args: [reason, at, at, userId],
  });
  const email = row.email === null ? null : String(row.email);
  if (email) {
    await tx.execute({
      sql: "INSERT OR IGNORE INTO suppressions (project_id, email, reason, created_at) VALUES (?, ?, ?, ?)",
      args: [projectId, email.toLowerCase(), reason, at],
    });
  }
  await cancelOpenDrafts(tx, "user_id = ?", [userId], reason, actor, at);
  return { email, changed: updated.rowsAffected > 0 };
}

/** A hard bounce: the address is suppressed for the project, with every user that has it. */
export async function suppressAddress(tx: Executor, projectId: string, email: string, reason: string, actor: string): Promise<void> {
  const at = now();
  const address = email.toLowerCase();
  await tx.execute({
    sql: "INSERT OR IGNORE INTO suppressions (project_id, email, reason, created_at) VALUES (?, ?, ?, ?)",
    args: [projectId, address, reason, at],
  });
  await tx.execute({
    sql: `UPDATE tracked_users SET suppressed = 1, suppressed_reason = ?, suppressed_at = ?, updated_at = ?
          WHERE project_id = ? AND lower(email) = ? AND suppressed = 0`,
    args: [reason, at, at, projectId, address],
  });
  await cancelOpenDrafts(
    tx,
    "user_id IN (SELECT id FROM tracked_users WHERE project_id = ? AND lower(email) = ?)",
    [projectId, address],
    reason,
    actor,
    at,
  );
}

async function cancelOpenDrafts(tx: Executor, where: string, args: (string | number)[], reason: string, actor: string, at: number): Promise<void> {
  await tx.execute({
    sql: `INSERT INTO draft_history (draft_id, from_state, to_state, actor, note, at)
          SELECT id, state, 'cancelled', ?, ?, ? FROM drafts WHERE state IN ${OPEN_DRAFTS} AND ${where}`,
    args: [actor, `cancelled: ${reason}`, at, ...args],
  });
  await tx.execute({
    sql: `UPDATE drafts SET state = 'cancelled', reason = ?, updated_at = ? WHERE state IN ${OPEN_DRAFTS} AND ${where}`,
    args: [reason, at, ...args],
  });
}

/** True when the address is on the project's suppression list (stored lowercased: a primary-key lookup). */
export async function isAddressSuppressed(exec: Executor, projectId: string, email: string): Promise<boolean> {
  const rows = (await exec.execute({ sql: "SELECT 1 FROM suppressions WHERE project_id = ? AND email = ?", args: [projectId, email.toLowerCase()] })).rows;
  return rows.length > 0;
}
