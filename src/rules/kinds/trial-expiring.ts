import { DAY } from "../../lib/durations";
import { sql } from "../sql";
import type { KindModule } from "./types";

/**
 * SPEC §7 #3: the user is `trialing` and the trial ends within `days_before`. Once per trial: a trial is told apart
 * by its `trial_started` — a new one is a new trial, even while the user stays `trialing` (the stage's time could
 * never tell two trials apart) — but only one that happened after this rule last fired for the user: an older one,
 * arriving late (after the trial_expiring that made the user trialing, docs/pipeline.md), belongs to the trial that
 * was mailed, whose occasion is kept. Not the end time, which every `trial_expiring` recomputes. Without a
 * `trial_started` (a trial known from `trial_expiring` alone, or one whose events retention deleted), the stage's
 * time stands in.
 */
export const trialExpiring: KindModule<"trial_expiring"> = {
  kind: "trial_expiring",
  scansUsers: true,
  candidates(rule, ctx) {
    const started = sql`(SELECT max(ev.occurred_at) FROM events ev WHERE ev.user_id = u.id AND ev.name = 'trial_started')`;
    const firedSince = sql`(SELECT rf.occasion FROM rule_firings rf WHERE ${ctx.ownFirings} AND rf.fired_at > COALESCE(${started}, 0)
        ORDER BY rf.fired_at DESC, rf.id DESC LIMIT 1)`;
    return sql`
      SELECT u.id AS user_id, COALESCE(${firedSince}, CAST(COALESCE(${started}, u.stage_changed_at, u.trial_ends_at) AS TEXT)) AS occasion,
        NULL AS event_id
      FROM tracked_users u
      WHERE ${ctx.eligible} AND u.stage = 'trialing'
        AND u.trial_ends_at > ${ctx.at} AND u.trial_ends_at <= ${ctx.at + rule.days_before * DAY}`;
  },
};
