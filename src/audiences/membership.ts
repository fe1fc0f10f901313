import type { ProjectConfig } from "../config/schema";
import type { Database, Transaction } from "../db/client";
import { Mutex } from "../lib/mutex";
import { collectChanges, collectStale, type Scope } from "./changes";
import { resolveAudiences, type ResolvedAudience } from "./defaults";
import { definitionsFingerprint, forgetDefinitions, recordDefinitions } from "./definitions";
import { dropEventCounts, prepareEventCounts, type PreparedCounts } from "./event-counts";
import type { UserChange } from "../pipeline";
import { filterInputs, mayChange } from "./inputs";
import { breathe } from "../lib/breathe";

export type { Scope };

export type MembershipChange = { entered: number; exited: number };

/** Rows of tracked_users per recompute transaction: short write locks, so ingest keeps flowing. */
export const RECOMPUTE_CHUNK = 100_000;

const TEMP_TABLES = [
  // One row per change: member_rowid NULL = the user enters, else the member row to delete (an exit).
  "CREATE TEMP TABLE IF NOT EXISTS audience_change (audience_id TEXT NOT NULL, user_id INTEGER NOT NULL, member_rowid INTEGER)",
  "CREATE TEMP TABLE IF NOT EXISTS audience_fresh (user_id INTEGER PRIMARY KEY)",
];
const CLEAR = ["DELETE FROM temp.audience_change", "DELETE FROM temp.audience_fresh"];

export type ApplyOptions = {
  /** Precomputed event counts of a whole-project recompute (see event-counts.ts). */
  counts?: PreparedCounts;
  /** Audience ids with members that are no longer configured (a recompute finds them once, up front). */
  staleAudienceIds?: readonly string[];
  /** Per audience, the scope to evaluate instead of `scope` (undefined: nothing to evaluate for it). */
  scopeOf?: (audience: ResolvedAudience) => Scope | undefined;
  /** Skip the pass for audiences no longer configured (none has members). */
  noStale?: boolean;
};

/**
 * Brings `audience_members` and `audience_history` in line with the filters for the users in `scope`, inside
 * `tx`, set-based: `collectChanges` writes the entries and exits of each audience to a temp table (nothing for
 * the users who stay put; memberships of audiences no longer configured are exits too), then four writes apply
 * them — open history rows and insert members; close history rows and delete members. Crash-safe because it all
 * commits or rolls back with `tx`; the temp tables are per connection and emptied before and after.
 */
export async function applyMembership(
  tx: Transaction,
  projectId: string,
  audiences: readonly ResolvedAudience[],
  scope: Scope,
  at: number,
  opts: ApplyOptions = {},
): Promise<MembershipChange> {
  for (const sql of [...TEMP_TABLES, ...CLEAR]) await tx.execute(sql);
  const { counts } = opts;
  // Users with events newer than the precomputed counts are evaluated the correlated way (see event-counts.ts).
  if (counts) await tx.execute({ sql: "INSERT OR IGNORE INTO temp.audience_fresh (user_id) SELECT user_id FROM events WHERE id > ?", args: [counts.maxEventId] });
  for (const audience of audiences) {
    await breathe();
    const own = opts.scopeOf ? opts.scopeOf(audience) : scope;
    if (own) await collectChanges(tx, projectId, audience, own, at, counts);
  }
  if (!opts.noStale) await collectStale(tx, projectId, audiences, scope, opts.staleAudienceIds);
  await tx.execute({
    sql: "INSERT INTO audience_history (project_id, audience_id, user_id, entered_at) SELECT ?, audience_id, user_id, ? FROM temp.audience_change WHERE member_rowid IS NULL",
    args: [projectId, at],
  });
  const entered = await tx.execute({
    sql: "INSERT INTO audience_members (project_id, audience_id, user_id, entered_at) SELECT ?, audience_id, user_id, ? FROM temp.audience_change WHERE member_rowid IS NULL",
    args: [projectId, at],
  });
  // CROSS JOIN pins the plan that seeks the open-history index per exit (without statistics SQLite may scan
  // every open history row of the project instead).
  await tx.execute({
    sql: `UPDATE audience_history SET exited_at = ? WHERE id IN (SELECT h.id FROM temp.audience_change x CROSS JOIN audience_history h
            ON h.project_id = ? AND h.user_id = x.user_id AND h.audience_id = x.audience_id AND h.exited_at IS NULL WHERE x.member_rowid IS NOT NULL)`,
    args: [at, projectId],
  });
  const exited = await tx.execute("DELETE FROM audience_members WHERE rowid IN (SELECT member_rowid FROM temp.audience_change WHERE member_rowid IS NOT NULL)");
  for (const sql of CLEAR) await tx.execute(sql);
  return { entered: entered.rowsAffected, exited: exited.rowsAffected };
}

/**
 * Updates membership of every audience of `project` for the users the normaliser just touched, inside the
 * normaliser's transaction (docs/architecture.md). `at` is "now" for relative times and windows.
 *
 * With `changes` (what the batch changed per user), an audience is evaluated only for the users whose change
 * touches what its filter reads (inputs.ts) — most events change `last_seen_at` and nothing else, so most
 * audiences have nothing to look at. What time alone changes is the hourly recompute's. Without `changes`,
 * every audience is evaluated for every user given.
 */
export async function refreshMembership(
  tx: Transaction,
  project: ProjectConfig,
  userIds: readonly number[],
  at: number,
  changes?: ReadonlyMap<number, UserChange>,
): Promise<MembershipChange> {
  const ids = [...new Set(userIds)];
  if (ids.length === 0) return { entered: 0, exited: 0 };
  const audiences = resolveAudiences(project);
  if (!changes) return applyMembership(tx, project.id, audiences, { kind: "users", ids }, at);
  const scopeOf = (audience: ResolvedAudience): Scope | undefined => {
    const inputs = filterInputs(audience.filter);
    const some = ids.filter((id) => {
      const change = changes.get(id);
      return change === undefined || mayChange(inputs, change);
    });
    return some.length > 0 ? { kind: "users", ids: some } : undefined;
  };
  const noStale = !(await mayHaveStaleMembers(tx, project, audiences));
  return applyMembership(tx, project.id, audiences, { kind: "users", ids }, at, { scopeOf, noStale });
}

/**
 * Whether members of audiences no longer configured may exist. Looked up once per project config in this
 * process (a scan of the project's members): such members come only from an earlier config, and once one
 * is seen the check is never skipped again.
 */
async function mayHaveStaleMembers(tx: Transaction, project: ProjectConfig, audiences: readonly ResolvedAudience[]): Promise<boolean> {
  let known = staleChecked.get(project);
  if (known === undefined) {
    const rs = await tx.execute({
      sql: "SELECT 1 FROM audience_members WHERE project_id = ? AND audience_id NOT IN (SELECT value FROM json_each(?)) LIMIT 1",
      args: [project.id, JSON.stringify(audiences.map((a) => a.id))],
    });
    known = rs.rows.length > 0;
    staleChecked.set(project, known);
  }
  return known;
}

const staleChecked = new WeakMap<ProjectConfig, boolean>();

export type RecomputeResult = MembershipChange & { audiences: number; users: number; transactions: number; ms: number };
/** `signal`: stop between slices (a server stopping); the definitions are then not recorded as applied. */
export type RecomputeOptions = { chunkSize?: number; signal?: AbortSignal };

/**
 * Recomputes every audience of `project` for all its users as of `at` — what time alone changes (`older_than`,
 * `within`) and what a config edit changes. Runs in slices of user ids, one write transaction each, so the
 * normaliser and ingest interleave with a long recompute; each slice is consistent on its own.
 */
export function recomputeAudiences(
  database: Database,
  project: ProjectConfig,
  at: number,
  opts: RecomputeOptions = {},
): Promise<RecomputeResult> {
  // One at a time per database: they share the write connection's temp count tables.
  let lock = recomputeLocks.get(database);
  if (!lock) recomputeLocks.set(database, (lock = new Mutex()));
  return lock.run(() => recomputeAll(database, project, at, opts));
}

const recomputeLocks = new WeakMap<Database, Mutex>();

async function recomputeAll(database: Database, project: ProjectConfig, at: number, opts: RecomputeOptions): Promise<RecomputeResult> {
  const started = performance.now();
  const audiences = resolveAudiences(project);
  const fingerprint = definitionsFingerprint(project);
  const chunk = opts.chunkSize ?? RECOMPUTE_CHUNK;
  const bounds = await database.read({
    sql: "SELECT min(id) AS lo, max(id) AS hi, count(*) AS n FROM tracked_users WHERE project_id = ?",
    args: [project.id],
  });
  const row = bounds.rows[0]!;
  const lo = row.lo === null ? 0 : Number(row.lo);
  const hi = row.hi === null ? 0 : Number(row.hi);
  const total: RecomputeResult = { entered: 0, exited: 0, audiences: audiences.length, users: Number(row.n), transactions: 0, ms: 0 };
  const configured = new Set(audiences.map((a) => a.id));
  const present = await database.read({ sql: "SELECT DISTINCT audience_id FROM audience_members WHERE project_id = ?", args: [project.id] });
  const staleAudienceIds = present.rows.map((r) => String(r.audience_id)).filter((id) => !configured.has(id));
  const counts = await prepareEventCounts(database, project.id, audiences, at);
  await forgetDefinitions(database, project);
  try {
    // The first and last slices are open-ended so members whose user row is gone are still exited.
    for (let from = lo; from <= hi; from += chunk) {
      await breathe();
      if (opts.signal?.aborted) return { ...total, ms: Math.round(performance.now() - started) };
      const scope: Scope = {
        kind: "range",
        from: from === lo ? Number.MIN_SAFE_INTEGER : from,
        to: from + chunk > hi ? Number.MAX_SAFE_INTEGER : from + chunk,
      };
      const change = await database.write((tx) => applyMembership(tx, project.id, audiences, scope, at, { counts, staleAudienceIds }));
      total.entered += change.entered;
      total.exited += change.exited;
      total.transactions++;
    }
  } finally {
    await dropEventCounts(database, counts);
  }
  // Membership now follows these definitions (src/audiences/definitions.ts).
  await recordDefinitions(database, project, fingerprint);
  total.ms = Math.round(performance.now() - started);
  return total;
}
