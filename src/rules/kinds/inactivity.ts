import { sql } from "../sql";
import type { KindModule } from "./types";

/**
 * SPEC §7 #6: `last_seen_at` older than `inactive_for`, stage not cancelled/churned. Once per inactive spell:
 * the occasion is the spell's start (`last_seen_at`), so any new activity followed by silence is a new spell.
 * `+u.last_seen_at` keeps SQLite off the last_seen index: a large share of users qualifies, and one sequential
 * pass over the users is ~7x faster than an index walk with a random row lookup per user (bench:evaluator).
 */
export const inactivity: KindModule<"inactivity"> = {
  kind: "inactivity",
  scansUsers: true,
  candidates(rule, ctx) {
    return sql`
      SELECT u.id AS user_id, CAST(u.last_seen_at AS TEXT) AS occasion, NULL AS event_id
      FROM tracked_users u
      WHERE ${ctx.eligible} AND +u.last_seen_at <= ${ctx.at - rule.inactive_for}
        AND (u.stage IS NULL OR u.stage NOT IN ('cancelled', 'churned'))`;
  },
};
