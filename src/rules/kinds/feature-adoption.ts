import { sql } from "../sql";
import type { KindModule } from "./types";

/** Occasion of a feature_adoption rule without `feature` ("never used any feature"). */
export const ANY_FEATURE = "*";

/**
 * SPEC §7 #7: the user signed up at least `after` ago and never used `feature` (any feature when unset).
 * Sign-up time is the `signup_date` trait, else when the user was first seen. Once per user and feature. Not
 * for users who cancelled or churned (as for inactivity): they get the cancellation and win-back rules instead.
 */
export const featureAdoption: KindModule<"feature_adoption"> = {
  kind: "feature_adoption",
  scansUsers: true,
  candidates(rule, ctx) {
    const feature = rule.feature ? sql` AND f.feature = ${rule.feature}` : sql.empty;
    return sql`
      SELECT u.id AS user_id, ${rule.feature ?? ANY_FEATURE} AS occasion, NULL AS event_id
      FROM tracked_users u
      WHERE ${ctx.eligible} AND COALESCE(u.signup_date, u.first_seen_at) <= ${ctx.at - rule.after}
        AND (u.stage IS NULL OR u.stage NOT IN ('cancelled', 'churned'))
        AND NOT EXISTS (SELECT 1 FROM feature_usage f WHERE f.user_id = u.id${feature})`;
  },
};
