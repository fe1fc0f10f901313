import type { InValue } from "@libsql/client";
import type { ProjectConfig } from "../config/schema";
import type { Database, Transaction } from "../db/client";
import { compileFilter } from "./compile";
import { resolveAudiences, type ResolvedAudience } from "./defaults";
import { dropEventCounts, prepareEventCounts, type PreparedCounts } from "./event-counts";

/** Which users a membership pass looks at: the ones the normaliser touched, or a slice of user ids. */
export type Scope = { kind: "users"; ids: readonly number[] } | { kind: "range"; from: number; to: number };

export type MembershipChange = { entered: number; exited: number };

/**
 * Event conditions with `where` read event rows in user order, i.e. all over the events table; SQLite's default
 * 2 MiB page cache then thrashes (measured 4x slower at 1M users). 64 MiB for the write connection, raised
 * once, never lowered (a larger configured cache is kept).
 */
const RECOMPUTE_CACHE_KIB = 65_536;

async function ensurePageCache(database: Database): Promise<void> {
  const rs = await database.execute("PRAGMA cache_size");
  const current = Number(rs.rows[0]?.[0] ?? 0);
  const kib = current < 0 ? -current : current * 4;
  if (kib < RECOMPUTE_CACHE_KIB) await database.execute(`PRAGMA cache_size = -${RECOMPUTE_CACHE_KIB}`);
}

/** Rows of tracked_users per recompute transaction: short write locks, so ingest keeps flowing. */
export const RECOMPUTE_CHUNK = 100_000;

function scopeSql(column: string, scope: Scope): { sql: string; args: InValue[] } {
  if (scope.kind === "users") return { sql: `${column} IN (SELECT value FROM json_each(?))`, args: [JSON.stringify(scope.ids)] };
  return { sql: `${column} >= ? AND ${column} < ?`, args: [scope.from, scope.to] };
}

const TEMP_TABLES = [
  "CREATE TEMP TABLE IF NOT EXISTS audience_match (audience_id TEXT NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (audience_id, user_id)) WITHOUT ROWID",
  "CREATE TEMP TABLE IF NOT EXISTS audience_enter (audience_id TEXT NOT NULL, user_id INTEGER NOT NULL)",
  "CREATE TEMP TABLE IF NOT EXISTS audience_exit (member_rowid INTEGER NOT NULL, audience_id TEXT NOT NULL, user_id INTEGER NOT NULL)",
  "CREATE TEMP TABLE IF NOT EXISTS audience_fresh (user_id INTEGER PRIMARY KEY)",
];
const CLEAR = ["DELETE FROM temp.audience_match", "DELETE FROM temp.audience_enter", "DELETE FROM temp.audience_exit", "DELETE FROM temp.audience_fresh"];

/**
 * Brings `audience_members` and `audience_history` in line with the filters for the users in `scope`, inside
 * `tx`, set-based: the matches go to a temp table (one INSERT … SELECT per audience, through the one filter
 * compiler); one pass each way diffs them against the stored membership (entries, exits); the four writes
 * then touch only the changed rows — open history and insert members for entries, close history and delete
 * members for exits. Memberships of audiences no longer configured are exits too. Crash-safe because it all
 * commits or rolls back with `tx`; the temp tables are per connection and emptied before and after.
 */
export async function applyMembership(
  tx: Transaction,
  projectId: string,
  audiences: readonly ResolvedAudience[],
  scope: Scope,
  at: number,
  counts?: PreparedCounts,
): Promise<MembershipChange> {
  for (const sql of [...TEMP_TABLES, ...CLEAR]) await tx.execute(sql);
  // Users with events newer than the precomputed counts are evaluated the correlated way (see event-counts.ts).
  if (counts) await tx.execute({ sql: "INSERT OR IGNORE INTO temp.audience_fresh (user_id) SELECT user_id FROM events WHERE id > ?", args: [counts.maxEventId] });
  const users = scopeSql("u.id", scope);
  for (const audience of audiences) {
    const filter = compileFilter(audience.filter, at, counts);
    // `+u.project_id` keeps the planner on the rowid (range or IN list) instead of a project-wide index scan.
    await tx.execute({
      sql: `INSERT INTO temp.audience_match (audience_id, user_id) SELECT ?, u.id FROM tracked_users u WHERE ${users.sql} AND +u.project_id = ? AND ${filter.sql}`,
      args: [audience.id, ...users.args, projectId, ...filter.args],
    });
  }
  await tx.execute({
    sql: `INSERT INTO temp.audience_enter (audience_id, user_id) SELECT m.audience_id, m.user_id FROM temp.audience_match m
          WHERE NOT EXISTS (SELECT 1 FROM audience_members am WHERE am.project_id = ? AND am.audience_id = m.audience_id AND am.user_id = m.user_id)`,
    args: [projectId],
  });
  // INDEXED BY / CROSS JOIN pin the plans that seek by user: without statistics SQLite may otherwise scan every
  // member (or every open history row) of the project, which is the whole table on the normaliser's hot path.
  const members = scopeSql("am.user_id", scope);
  await tx.execute({
    sql: `INSERT INTO temp.audience_exit (member_rowid, audience_id, user_id) SELECT am.rowid, am.audience_id, am.user_id FROM audience_members am INDEXED BY audience_members_user
          WHERE am.project_id = ? AND ${members.sql}
            AND NOT EXISTS (SELECT 1 FROM temp.audience_match m WHERE m.audience_id = am.audience_id AND m.user_id = am.user_id)`,
    args: [projectId, ...members.args],
  });
  await tx.execute({
    sql: "INSERT INTO audience_history (project_id, audience_id, user_id, entered_at) SELECT ?, audience_id, user_id, ? FROM temp.audience_enter",
    args: [projectId, at],
  });
  const entered = await tx.execute({
    sql: "INSERT INTO audience_members (project_id, audience_id, user_id, entered_at) SELECT ?, audience_id, user_id, ? FROM temp.audience_enter",
    args: [projectId, at],
  });
  await tx.execute({
    sql: `UPDATE audience_history SET exited_at = ? WHERE id IN (SELECT h.id FROM temp.audience_exit x CROSS JOIN audience_history h
            ON h.project_id = ? AND h.user_id = x.user_id AND h.audience_id = x.audience_id AND h.exited_at IS NULL)`,
    args: [at, projectId],
  });
  const exited = await tx.execute("DELETE FROM audience_members WHERE rowid IN (SELECT member_rowid FROM temp.audience_exit)");
  for (const sql of CLEAR) await tx.execute(sql);
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
  await ensurePageCache(database);
  const counts = await prepareEventCounts(database, project.id, audiences, at);
  try {
    // The first and last slices are open-ended so members whose user row is gone are still exited.
    for (let from = lo; from <= hi; from += chunk) {
      const scope: Scope = {
        kind: "range",
        from: from === lo ? Number.MIN_SAFE_INTEGER : from,
        to: from + chunk > hi ? Number.MAX_SAFE_INTEGER : from + chunk,
      };
      const change = await database.write((tx) => applyMembership(tx, project.id, audiences, scope, at, counts));
      total.entered += change.entered;
      total.exited += change.exited;
      total.transactions++;
    }
  } finally {
    await dropEventCounts(database, counts);
  }
  total.ms = Math.round(performance.now() - started);
  return total;
}
