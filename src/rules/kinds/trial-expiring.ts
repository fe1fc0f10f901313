import { DAY } from "../../lib/durations";
import { sql } from "../sql";
import type { KindModule } from "./types";

/**
 * SPEC §7 #3: the user is `trialing` and the trial ends within `days_before`. Once per trial: the occasion is
 * the time of the user's latest `trial_started` — a new `trial_started` is a new trial, even while the user
 * stays `trialing` (the stage does not change, so the stage's time could never tell two trials apart). Not the
 * end time, which every `trial_expiring` event recomputes from its own timestamp and which would otherwise make
 * each such event a "new" trial. The stage's time stands in when retention has deleted the event.
 */
export const trialExpiring: KindModule<"trial_expiring"> = {
  kind: "trial_expiring",
  scansUsers: true,
  candidates(rule, ctx) {
    const started = sql`(SELECT max(ev.occurred_at) FROM events ev WHERE ev.user_id = u.id AND ev.name = 'trial_started')`;
    // Firings made before this key (by the stage's time) after the latest trial_started arrived were for this
    // trial: keep their occasion, so an upgrade mails nobody twice and their drafts still pass the pre-send check.
    const stageKey = sql`CAST(u.stage_changed_at AS TEXT)`;
    const firedUnderStageKey = sql`EXISTS (SELECT 1 FROM rule_firings rf WHERE ${ctx.ownFirings} AND rf.occasion = ${stageKey}
        AND rf.fired_at > (SELECT max(ev.received_at) FROM events ev WHERE ev.user_id = u.id AND ev.name = 'trial_started'))`;
    return sql`
      SELECT u.id AS user_id,
        CASE WHEN ${firedUnderStageKey} THEN ${stageKey} ELSE CAST(COALESCE(${started}, u.stage_changed_at, u.trial_ends_at) AS TEXT) END AS occasion,
        NULL AS event_id
      FROM tracked_users u
      WHERE ${ctx.eligible} AND u.stage = 'trialing'
        AND u.trial_ends_at > ${ctx.at} AND u.trial_ends_at <= ${ctx.at + rule.days_before * DAY}`;
  },
};
