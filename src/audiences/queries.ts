import type { Database } from "../db/client";

export type AudienceSize = { audienceId: string; size: number };

/** Current member count of every audience that has members (read connection; the dashboard's audiences page). */
export async function audienceSizes(database: Database, projectId: string): Promise<AudienceSize[]> {
  const rs = await database.read({
    sql: "SELECT audience_id, count(*) AS size FROM audience_members WHERE project_id = ? GROUP BY audience_id ORDER BY audience_id",
    args: [projectId],
  });
  return rs.rows.map((r) => ({ audienceId: String(r.audience_id), size: Number(r.size) }));
}

export type AudienceMember = {
  userId: number;
  externalUserId: string;
  email: string | null;
  name: string | null;
  stage: string | null;
  enteredAt: number;
};

/** One page of an audience's members, most recent entries first. Email and name are PII: mask them for viewers. */
export async function audienceMembers(
  database: Database,
  projectId: string,
  audienceId: string,
  page: { limit?: number; offset?: number } = {},
): Promise<{ total: number; members: AudienceMember[] }> {
  const limit = Math.min(Math.max(page.limit ?? 50, 1), 1000);
  const offset = Math.max(page.offset ?? 0, 0);
  const [count, rows] = await Promise.all([
    database.read({ sql: "SELECT count(*) AS n FROM audience_members WHERE project_id = ? AND audience_id = ?", args: [projectId, audienceId] }),
    database.read({
      sql: `SELECT am.user_id, am.entered_at, u.external_user_id, u.email, u.name, u.stage
            FROM audience_members am JOIN tracked_users u ON u.id = am.user_id
            WHERE am.project_id = ? AND am.audience_id = ?
            ORDER BY am.entered_at DESC, am.user_id DESC LIMIT ? OFFSET ?`,
      args: [projectId, audienceId, limit, offset],
    }),
  ]);
  return {
    total: Number(count.rows[0]!.n),
    members: rows.rows.map((r) => ({
      userId: Number(r.user_id),
      externalUserId: String(r.external_user_id),
      email: r.email === null ? null : String(r.email),
      name: r.name === null ? null : String(r.name),
      stage: r.stage === null ? null : String(r.stage),
      enteredAt: Number(r.entered_at),
    })),
  };
}

/** The audiences a user is in now (the dashboard's user page). */
export async function userAudiences(database: Database, projectId: string, userId: number): Promise<{ audienceId: string; enteredAt: number }[]> {
  const rs = await database.read({
    sql: "SELECT audience_id, entered_at FROM audience_members WHERE project_id = ? AND user_id = ? ORDER BY audience_id",
    args: [projectId, userId],
  });
  return rs.rows.map((r) => ({ audienceId: String(r.audience_id), enteredAt: Number(r.entered_at) }));
}
