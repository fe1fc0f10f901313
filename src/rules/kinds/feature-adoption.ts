import { sql } from "../sql";
import type { KindModule } from "./types";

/** Occasion of a feature_adoption rule without `feature` ("never used any feature"). */
export const ANY_FEATURE = "*";

/**
 * SPEC §7 #7: the user signed up at least `after` ago and never used `feature` (any feature when unset).
 * Sign-up time is `signup_date` (set by the `user_signed_up` event, or sent as a trait): a user with neither has
 * no known sign-up and does not qualify — a user known only from, say, a payment event gets no "try feature X"
 * email. Once per user and feature. Not for users who cancelled or churned (as for inactivity): they get the
 * cancellation and win-back rules instead.
 */
export const featureAdoption: KindModule<"feature_adoption"> = {
  kind: "feature_adoption",
  scansUsers: true,
  candidates(rule, ctx) {
    const feature = rule.feature ? sql` AND f.feature = ${rule.feature}` : sql.empty;
    return sql`
      SELECT u.id AS user_id, ${rule.feature ?? ANY_FEATURE} AS occasion, NULL AS event_id
      FROM tracked_users u
      WHERE ${ctx.eligible} AND u.signup_date <= ${ctx.at - rule.after}
        AND (u.stage IS NULL OR u.stage NOT IN ('cancelled', 'churned'))
        AND NOT EXISTS (SELECT 1 FROM feature_usage f WHERE f.user_id = u.id${feature})`;
  },
};
