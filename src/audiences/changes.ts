import type { InValue } from "@libsql/client";
import type { Transaction } from "../db/client";
import { compileFilter, type EventCounts } from "./compile";
import type { ResolvedAudience } from "./defaults";
import type { Filter } from "./filter";

/** Which users a membership pass looks at: the ones the normaliser touched, or a slice of user ids. */
export type Scope = { kind: "users"; ids: readonly number[] } | { kind: "range"; from: number; to: number };

export function scopeSql(column: string, scope: Scope): { sql: string; args: InValue[] } {
  if (scope.kind === "users") return { sql: `${column} IN (SELECT value FROM json_each(?))`, args: [JSON.stringify(scope.ids)] };
  return { sql: `${column} >= ? AND ${column} < ?`, args: [scope.from, scope.to] };
}

/**
 * The stages a user must be in for the filter to hold — `stage eq/in …`, alone or as one condition of a
 * top-level `all` — so its matches can be found through the stage index.
 */
function indexedStages(filter: Filter): string[] | undefined {
  if (filter.type === "all") {
    for (const f of filter.filters) {
      const stages = indexedStages(f);
      if (stages) return stages;
    }
    return undefined;
  }
  if (filter.type !== "field" || filter.ref.source !== "column" || filter.ref.column !== "stage" || filter.checks.length !== 1) return undefined;
  const check = filter.checks[0]!;
  if (check.op === "eq") return [String(check.value)];
  if (check.op === "in") return check.values.map(String);
  return undefined;
}

/**
 * Writes to `temp.audience_change` the users of `scope` whose membership of `audience` must change: the filter
 * holds and there is no member row (an entry, member_rowid NULL), or it does not and there is one (an exit).
 * The filter is always the one compiled expression; only the way to the rows differs:
 * - in general ONE pass over the users in scope beside their member row (LEFT JOIN), so the filter runs once
 *   per user and nothing is written for users who stay put;
 * - for a recompute of an audience that requires given stages (trialing, paying, …, or `all` with a stage
 *   condition), two narrow passes instead — the users in those stages (tracked_users_stage index) who match
 *   and are not members, and the members whose filter no longer holds — which touch a few percent of the rows
 *   a full pass would.
 */
export async function collectChanges(
  tx: Transaction,
  projectId: string,
  audience: ResolvedAudience,
  scope: Scope,
  at: number,
  counts?: EventCounts,
): Promise<void> {
  const stages = scope.kind === "range" ? indexedStages(audience.filter) : undefined;
  if (stages) {
    const enter = compileFilter(audience.filter, at, counts);
    const users = scopeSql("u.id", scope);
    await tx.execute({
      sql: `INSERT INTO temp.audience_change (audience_id, user_id, member_rowid)
            SELECT ?, u.id, NULL FROM tracked_users u INDEXED BY tracked_users_stage
            WHERE u.project_id = ? AND u.stage IN (${stages.map(() => "?").join(", ")}) AND ${users.sql} AND ${enter.sql}
              AND NOT EXISTS (SELECT 1 FROM audience_members am WHERE am.project_id = ? AND am.audience_id = ? AND am.user_id = u.id)`,
      args: [audience.id, projectId, ...stages, ...users.args, ...enter.args, projectId, audience.id],
    });
    const exit = compileFilter(audience.filter, at, counts);
    const members = scopeSql("am.user_id", scope);
    await tx.execute({
      sql: `INSERT INTO temp.audience_change (audience_id, user_id, member_rowid)
            SELECT am.audience_id, am.user_id, am.rowid FROM audience_members am JOIN tracked_users u ON u.id = am.user_id
            WHERE am.project_id = ? AND am.audience_id = ? AND ${members.sql} AND NOT ${exit.sql}`,
      args: [projectId, audience.id, ...members.args, ...exit.args],
    });
    return;
  }
  const filter = compileFilter(audience.filter, at, counts);
  const users = scopeSql("u.id", scope);
  // `+u.project_id` keeps the planner on the rowid (range or IN list) instead of a project-wide index scan.
  await tx.execute({
    sql: `INSERT INTO temp.audience_change (audience_id, user_id, member_rowid)
          SELECT ?, u.id, am.rowid FROM tracked_users u
          LEFT JOIN audience_members am ON am.project_id = ? AND am.audience_id = ? AND am.user_id = u.id
          WHERE ${users.sql} AND +u.project_id = ? AND CASE WHEN ${filter.sql} THEN am.rowid IS NULL ELSE am.rowid IS NOT NULL END`,
    args: [audience.id, projectId, audience.id, ...users.args, projectId, ...filter.args],
  });
}

/** Records exits from audiences that are no longer configured, for the users in scope. */
export async function collectStale(
  tx: Transaction,
  projectId: string,
  audiences: readonly ResolvedAudience[],
  scope: Scope,
  stale?: readonly string[],
): Promise<void> {
  if (scope.kind === "users") {
    // A few users: their member rows, by the (project_id, user_id) index.
    const users = scopeSql("am.user_id", scope);
    await tx.execute({
      sql: `INSERT INTO temp.audience_change (audience_id, user_id, member_rowid)
            SELECT am.audience_id, am.user_id, am.rowid FROM audience_members am INDEXED BY audience_members_user
            WHERE am.project_id = ? AND ${users.sql} AND am.audience_id NOT IN (SELECT value FROM json_each(?))`,
      args: [projectId, ...users.args, JSON.stringify(audiences.map((a) => a.id))],
    });
    return;
  }
  for (const audienceId of stale ?? []) {
    await tx.execute({
      sql: `INSERT INTO temp.audience_change (audience_id, user_id, member_rowid) SELECT am.audience_id, am.user_id, am.rowid FROM audience_members am
            WHERE am.project_id = ? AND am.audience_id = ? AND am.user_id >= ? AND am.user_id < ?`,
      args: [projectId, audienceId, scope.from, scope.to],
    });
  }
}
