import { sql, type Fragment } from "../sql";
import type { KindModule } from "./types";

/**
 * SPEC §7 #4: a `payment_failed` with no `subscription_changed` after it for `grace`. Once per failure: the
 * occasion is the failure's event id, and each new failure is a new occasion — also a retry that fails again while
 * the user is still `past_due` (the frequency cap paces a dunning sequence's emails). Only the user's latest
 * failure counts: failures superseded before a run are not mailed one by one, and the pre-send check lets only the
 * latest failure's email go out (an earlier one's unsent draft is cancelled). Only users still `past_due`, the
 * stage a failure sets "until the next subscription_changed" (SPEC §4): a user who cancelled meanwhile gets the
 * cancellation rules instead. Driving from the stage index and reading each user's latest failure from the
 * (user, name, time) index keeps this to a few index probes per past-due user.
 */
export const paymentFailed: KindModule<"payment_failed"> = {
  kind: "payment_failed",
  scansUsers: true,
  candidates(rule, ctx) {
    // The time of the failure a firing was for; should retention have deleted that event, the firing's own time.
    const firedFor = sql`COALESCE((SELECT fe.occurred_at FROM events fe WHERE fe.id = CAST(rf.occasion AS INTEGER)), rf.fired_at)`;
    const open = (at: Fragment) =>
      sql`NOT EXISTS (SELECT 1 FROM events s WHERE s.user_id = u.id AND s.name = 'subscription_changed' AND s.occurred_at > ${at})`;
    if (ctx.mode === "check") {
      // The pre-send check: still past_due, and no failure happened after the one this email is for (the same
      // failure delivered again, with its own time, changes nothing).
      return sql`SELECT u.id AS user_id, rf.occasion AS occasion, NULL AS event_id
        FROM tracked_users u JOIN rule_firings rf ON ${ctx.ownFirings}
        WHERE ${ctx.eligible} AND u.stage = 'past_due' AND ${open(firedFor)}
          AND NOT EXISTS (SELECT 1 FROM events later WHERE later.user_id = u.id AND later.name = 'payment_failed' AND later.occurred_at > ${firedFor})`;
    }
    // A new failure is one later than the failure last mailed: one delivered again (the same time) is not.
    // MATERIALIZED: computed once per user, not re-evaluated wherever the outer query mentions the column.
    return sql`WITH f AS MATERIALIZED (SELECT u.id AS user_id,
        (SELECT e.id FROM events e WHERE e.user_id = u.id AND e.name = 'payment_failed' ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) AS event_id
      FROM tracked_users u WHERE ${ctx.eligible} AND u.stage = 'past_due')
      SELECT f.user_id AS user_id, CAST(f.event_id AS TEXT) AS occasion, f.event_id AS event_id
      FROM f JOIN events e ON e.id = f.event_id JOIN tracked_users u ON u.id = f.user_id
      WHERE e.occurred_at <= ${ctx.at - rule.grace} AND ${open(sql`e.occurred_at`)}
        AND NOT EXISTS (SELECT 1 FROM rule_firings rf WHERE ${ctx.ownFirings} AND ${firedFor} >= e.occurred_at)`;
  },
};
