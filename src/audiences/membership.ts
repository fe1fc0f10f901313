import type { InValue } from "@libsql/client";
import type { ProjectConfig } from "../config/schema";
import type { Database, Transaction } from "../db/client";
import { compileFilter } from "./compile";
import { resolveAudiences, type ResolvedAudience } from "./defaults";

/** Which users a membership pass looks at: the ones the normaliser touched, or a slice of user ids. */
export type Scope = { kind: "users"; ids: readonly number[] } | { kind: "range"; from: number; to: number };

export type MembershipChange = { entered: number; exited: number };

/** Rows of tracked_users per recompute transaction: short write locks, so ingest keeps flowing. */
export const RECOMPUTE_CHUNK = 100_000;

function scopeSql(column: string, scope: Scope): { sql: string; args: InValue[] } {
  if (scope.kind === "users") return { sql: `${column} IN (SELECT value FROM json_each(?))`, args: [JSON.stringify(scope.ids)] };
  return { sql: `${column} >= ? AND ${column} < ?`, args: [scope.from, scope.to] };
}

/**
 * Brings `audience_members` and `audience_history` in line with the filters for the users in `scope`, inside
 * `tx`, set-based: the matches go to a temp table (one INSERT … SELECT per audience, through the one filter
 * compiler), then four statements diff them against the stored membership — open history rows and insert
 * members for entries, close history rows and delete members for exits. Memberships of audiences no longer
 * configured are exits too. Crash-safe because it all commits or rolls back with `tx`.
 */
export async function applyMembership(
  tx: Transaction,
  projectId: string,
  audiences: readonly ResolvedAudience[],
  scope: Scope,
  at: number,
): Promise<MembershipChange> {
  await tx.execute(
    "CREATE TEMP TABLE IF NOT EXISTS audience_match (audience_id TEXT NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (audience_id, user_id)) WITHOUT ROWID",
  );
  await tx.execute("DELETE FROM temp.audience_match");
  const users = scopeSql("u.id", scope);
  for (const audience of audiences) {
    const filter = compileFilter(audience.filter, at);
    // `+u.project_id` keeps the planner on the rowid (range or IN list) instead of a project-wide index scan.
    await tx.execute({
      sql: `INSERT INTO temp.audience_match (audience_id, user_id) SELECT ?, u.id FROM tracked_users u WHERE ${users.sql} AND +u.project_id = ? AND ${filter.sql}`,
      args: [audience.id, ...users.args, projectId, ...filter.args],
    });
  }
  const notMember = "NOT EXISTS (SELECT 1 FROM audience_members am WHERE am.project_id = ? AND am.audience_id = m.audience_id AND am.user_id = m.user_id)";
  const notMatched = (table: string) =>
    `NOT EXISTS (SELECT 1 FROM temp.audience_match m WHERE m.audience_id = ${table}.audience_id AND m.user_id = ${table}.user_id)`;
  // History first: both entry statements find the new members by their absence from audience_members.
  await tx.execute({
    sql: `INSERT INTO audience_history (project_id, audience_id, user_id, entered_at) SELECT ?, m.audience_id, m.user_id, ? FROM temp.audience_match m WHERE ${notMember}`,
    args: [projectId, at, projectId],
  });
  const entered = await tx.execute({
    sql: `INSERT INTO audience_members (project_id, audience_id, user_id, entered_at) SELECT ?, m.audience_id, m.user_id, ? FROM temp.audience_match m WHERE ${notMember}`,
    args: [projectId, at, projectId],
  });
  const historyUsers = scopeSql("audience_history.user_id", scope);
  await tx.execute({
    sql: `UPDATE audience_history SET exited_at = ? WHERE project_id = ? AND ${historyUsers.sql} AND exited_at IS NULL AND ${notMatched("audience_history")}`,
    args: [at, projectId, ...historyUsers.args],
  });
  const memberUsers = scopeSql("audience_members.user_id", scope);
  const exited = await tx.execute({
    sql: `DELETE FROM audience_members WHERE project_id = ? AND ${memberUsers.sql} AND ${notMatched("audience_members")}`,
    args: [projectId, ...memberUsers.args],
  });
  await tx.execute("DELETE FROM temp.audience_match");
  return { entered: entered.rowsAffected, exited: exited.rowsAffected };
}

/**
 * Updates membership of every audience of `project` for the users the normaliser just touched, inside the
 * normaliser's transaction (docs/architecture.md). `at` is "now" for relative times and windows.
 */
export async function refreshMembership(tx: Transaction, project: ProjectConfig, userIds: readonly number[], at: number): Promise<MembershipChange> {
  const ids = [...new Set(userIds)];
  if (ids.length === 0) return { entered: 0, exited: 0 };
  return applyMembership(tx, project.id, resolveAudiences(project), { kind: "users", ids }, at);
}

export type RecomputeResult = MembershipChange & { audiences: number; users: number; transactions: number; ms: number };

/**
 * Recomputes every audience of `project` for all its users as of `at` — what time alone changes (`older_than`,
 * `within`) and what a config edit changes. Runs in slices of user ids, one write transaction each, so the
 * normaliser and ingest interleave with a long recompute; each slice is consistent on its own.
 */
export async function recomputeAudiences(
  database: Database,
  project: ProjectConfig,
  at: number,
  opts: { chunkSize?: number } = {},
): Promise<RecomputeResult> {
  const started = performance.now();
  const audiences = resolveAudiences(project);
  const chunk = opts.chunkSize ?? RECOMPUTE_CHUNK;
  const bounds = await database.read({
    sql: "SELECT min(id) AS lo, max(id) AS hi, count(*) AS n FROM tracked_users WHERE project_id = ?",
    args: [project.id],
  });
  const row = bounds.rows[0]!;
  const lo = row.lo === null ? 0 : Number(row.lo);
  const hi = row.hi === null ? 0 : Number(row.hi);
  const total: RecomputeResult = { entered: 0, exited: 0, audiences: audiences.length, users: Number(row.n), transactions: 0, ms: 0 };
  // The first and last slices are open-ended so members whose user row is gone are still exited.
  for (let from = lo; from <= hi; from += chunk) {
    const scope: Scope = {
      kind: "range",
      from: from === lo ? Number.MIN_SAFE_INTEGER : from,
      to: from + chunk > hi ? Number.MAX_SAFE_INTEGER : from + chunk,
    };
    const change = await database.write((tx) => applyMembership(tx, project.id, audiences, scope, at));
    total.entered += change.entered;
    total.exited += change.exited;
    total.transactions++;
  }
  total.ms = Math.round(performance.now() - started);
  return total;
}
