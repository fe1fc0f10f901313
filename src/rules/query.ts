import { buildCandidates, type KindContext } from "./kinds";
import type { ResolvedRule } from "./schema";
import { sql, type Fragment } from "./sql";

export type QueryScope = {
  projectId: string;
  at: number;
  /** Only this user (pre-send re-check). */
  userId?: number;
  /** Only users with `from <= id < to` (the evaluator's ranges for kinds that scan users). */
  range?: { from: number; to: number };
  mode?: KindContext["mode"];
};

/**
 * Who may qualify at all (SPEC §7): has an email, not suppressed (bounced, unsubscribed, or the address on
 * the project's suppression list), not paused, and — for a rule with `audience` — a member of it.
 */
function eligibleUsers(rule: ResolvedRule, scope: QueryScope): Fragment {
  const parts = [
    sql`u.project_id = ${scope.projectId} AND u.suppressed = 0 AND u.paused = 0 AND u.email IS NOT NULL AND u.email <> ''`,
    // The list holds addresses lowercased (src/mail/suppress.ts): Ada@X.io is the suppressed ada@x.io.
    sql`NOT EXISTS (SELECT 1 FROM suppressions sp WHERE sp.project_id = u.project_id AND sp.email = lower(u.email))`,
  ];
  if (scope.userId !== undefined) parts.push(sql`u.id = ${scope.userId}`);
  if (scope.range) parts.push(sql`u.id >= ${scope.range.from} AND u.id < ${scope.range.to}`);
  if (rule.audience) {
    parts.push(sql`EXISTS (SELECT 1 FROM audience_members am WHERE am.project_id = u.project_id AND am.audience_id = ${rule.audience} AND am.user_id = u.id)`);
  }
  return sql`(${sql.join(parts, " AND ")})`;
}

/** The rule's candidate SELECT (`user_id, occasion, event_id`), already-fired occasions included. */
export function candidatesFor(rule: ResolvedRule, scope: QueryScope): Fragment {
  const ctx: KindContext = {
    projectId: scope.projectId,
    ruleId: rule.id,
    at: scope.at,
    eligible: eligibleUsers(rule, scope),
    onlyUser: (column) => (scope.userId === undefined ? sql.empty : sql.raw(` AND ${column} = ?`, [scope.userId])),
    ownFirings: sql`rf.project_id = ${scope.projectId} AND rf.rule_id = ${rule.id} AND rf.user_id = u.id`,
    mode: scope.mode ?? "evaluate",
  };
  return buildCandidates(rule, ctx);
}

function notFired(rule: ResolvedRule, scope: QueryScope): Fragment {
  return sql`NOT EXISTS (SELECT 1 FROM rule_firings f WHERE f.project_id = ${scope.projectId} AND f.rule_id = ${rule.id}
    AND f.user_id = c.user_id AND f.occasion = c.occasion)`;
}

/**
 * Records every new (user, occasion) of the rule in the ledger in one statement. `ON CONFLICT DO NOTHING`
 * on the ledger's UNIQUE key is the guarantee: a re-run, a concurrent run in another process or a run after a
 * crash can only insert occasions nobody has recorded yet. (`WHERE true` keeps SQLite's parser from reading
 * `ON CONFLICT` as a join constraint.)
 */
export function insertFirings(rule: ResolvedRule, scope: QueryScope, runId: number | null): Fragment {
  return sql`
    INSERT INTO rule_firings (project_id, rule_id, user_id, occasion, event_id, fired_at, run_id)
    SELECT ${scope.projectId}, ${rule.id}, c.user_id, c.occasion, c.event_id, ${scope.at}, ${runId}
    FROM (${candidatesFor(rule, scope)}) c
    WHERE c.occasion IS NOT NULL AND ${notFired(rule, scope)}
    ON CONFLICT (project_id, rule_id, user_id, occasion) DO NOTHING`;
}

/** New matches (not yet in the ledger), without writing anything. */
export function selectNewMatches(rule: ResolvedRule, scope: QueryScope, limit: number): Fragment {
  return sql`
    SELECT c.user_id, c.occasion, c.event_id FROM (${candidatesFor(rule, scope)}) c
    WHERE c.occasion IS NOT NULL AND ${notFired(rule, scope)}
    ORDER BY c.user_id LIMIT ${limit}`;
}

export function countNewMatches(rule: ResolvedRule, scope: QueryScope): Fragment {
  return sql`
    SELECT count(*) AS n FROM (${candidatesFor(rule, scope)}) c
    WHERE c.occasion IS NOT NULL AND ${notFired(rule, scope)}`;
}
