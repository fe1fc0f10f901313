import { sql } from "../sql";
import type { KindModule } from "./types";

/**
 * SPEC §7 #6: `last_seen_at` older than `inactive_for`, stage not cancelled/churned. Once per inactive spell: the
 * occasion is the spell's start (`last_seen_at`), and a spell ends only with activity *after* this rule emailed
 * the user — so a late event dated inside the silence (a backfill, a delayed client) moves `last_seen_at` but
 * starts no second spell, and the pre-send check of the spell's firing still holds.
 * `+u.last_seen_at` keeps SQLite off the last_seen index: a large share of users qualifies, and one sequential
 * pass over the users is ~7x faster than an index walk with a random row lookup per user (bench:evaluator).
 */
export const inactivity: KindModule<"inactivity"> = {
  kind: "inactivity",
  scansUsers: true,
  candidates(rule, ctx) {
    const sameSpell = sql`${ctx.ownFirings} AND rf.fired_at >= u.last_seen_at`;
    const inactive = sql`${ctx.eligible} AND +u.last_seen_at <= ${ctx.at - rule.inactive_for}
        AND (u.stage IS NULL OR u.stage NOT IN ('cancelled', 'churned'))`;
    if (ctx.mode === "check") {
      return sql`
        SELECT u.id AS user_id, rf.occasion AS occasion, NULL AS event_id
        FROM tracked_users u JOIN rule_firings rf ON ${sameSpell}
        WHERE ${inactive}`;
    }
    return sql`
      SELECT u.id AS user_id, CAST(u.last_seen_at AS TEXT) AS occasion, NULL AS event_id
      FROM tracked_users u
      WHERE ${inactive} AND NOT EXISTS (SELECT 1 FROM rule_firings rf WHERE ${sameSpell})`;
  },
};
