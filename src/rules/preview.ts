import type { ProjectConfig } from "../config/schema";
import type { Database } from "../db/client";
import { now } from "../lib/clock";
import { candidatesFor, countNewMatches, selectNewMatches } from "./query";
import { findRule } from "./resolve";
import { sql, toStatement } from "./sql";

export type PreviewMatch = { userId: number; externalUserId: string; email: string | null; occasion: string; eventId: number | null };
export type RulePreview = { ruleId: string; at: number; enabled: boolean; total: number; matches: PreviewMatch[] };

/**
 * Who would match the rule right now (SPEC §7 "preview"): new occasions not yet in the ledger, without creating
 * firings or drafts. Reads on the read connection, so it never waits for the evaluator or the normaliser. A
 * churn that is due counts as applied (the `cancellation` kind reads it so), audience changes not yet recomputed do not.
 * Returns `undefined` for an unknown rule id.
 */
export async function previewRule(
  database: Database,
  project: ProjectConfig,
  ruleId: string,
  at: number = now(),
  options: { limit?: number } = {},
): Promise<RulePreview | undefined> {
  const rule = findRule(project, ruleId);
  if (!rule) return undefined;
  const scope = { projectId: project.id, at };
  const limit = options.limit ?? 100;
  const listed = await database.read(
    toStatement(sql`SELECT m.user_id, m.occasion, m.event_id, u.external_user_id, u.email
      FROM (${selectNewMatches(rule, scope, limit)}) m JOIN tracked_users u ON u.id = m.user_id ORDER BY m.user_id`),
  );
  const counted = await database.read(toStatement(countNewMatches(rule, scope)));
  return {
    ruleId,
    at,
    enabled: rule.enabled,
    total: Number(counted.rows[0]!.n),
    matches: listed.rows.map((r) => ({
      userId: Number(r.user_id),
      externalUserId: String(r.external_user_id),
      email: r.email === null ? null : String(r.email),
      occasion: String(r.occasion),
      eventId: r.event_id === null ? null : Number(r.event_id),
    })),
  };
}

/**
 * The pre-send re-check (SPEC §8): does the rule still hold for this user and this occasion? False when the
 * rule is gone or disabled, the user no longer qualifies (suppressed, paused, left the audience), or the
 * condition moved on (converted before the trial ended, paid after the failure, progressed past the step).
 * The rule's own cooldown is ignored: the firing being checked is inside it by definition.
 */
export async function ruleStillHolds(
  database: Database,
  project: ProjectConfig,
  ruleId: string,
  userId: number,
  occasion: string,
  at: number = now(),
): Promise<boolean> {
  const rule = findRule(project, ruleId);
  if (!rule || !rule.enabled) return false;
  const candidates = candidatesFor(rule, { projectId: project.id, at, userId, mode: "check" });
  const r = await database.read(toStatement(sql`SELECT 1 AS ok FROM (${candidates}) c WHERE c.occasion = ${occasion} LIMIT 1`));
  return r.rows.length > 0;
}
