import { DAY } from "../../lib/durations";
import { sql } from "../sql";
import type { KindModule } from "./types";

/**
 * SPEC §7 #3: the user is `trialing` and the trial ends within `days_before`. Once per trial: the occasion is
 * the time the user entered `trialing` (not the end time, which every `trial_expiring` event recomputes from its
 * own timestamp and which would otherwise make each such event a "new" trial).
 */
export const trialExpiring: KindModule<"trial_expiring"> = {
  kind: "trial_expiring",
  scansUsers: true,
  candidates(rule, ctx) {
    return sql`
      SELECT u.id AS user_id, CAST(COALESCE(u.stage_changed_at, u.trial_ends_at) AS TEXT) AS occasion, NULL AS event_id
      FROM tracked_users u
      WHERE ${ctx.eligible} AND u.stage = 'trialing'
        AND u.trial_ends_at > ${ctx.at} AND u.trial_ends_at <= ${ctx.at + rule.days_before * DAY}`;
  },
};
