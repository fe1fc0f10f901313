import { sql } from "../sql";
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
    // MATERIALIZED: computed once per user, not re-evaluated wherever the outer query mentions the column.
    const latest = sql`WITH f AS MATERIALIZED (SELECT u.id AS user_id,
        (SELECT e.id FROM events e WHERE e.user_id = u.id AND e.name = 'payment_failed' ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) AS event_id
      FROM tracked_users u WHERE ${ctx.eligible} AND u.stage = 'past_due')`;
    const open = sql`NOT EXISTS (SELECT 1 FROM events s WHERE s.user_id = f.user_id AND s.name = 'subscription_changed' AND s.occurred_at > e.occurred_at)`;
    // The pre-send check: still past_due, and this is still the latest failure (grace has passed for it already).
    const due = ctx.mode === "check" ? sql.empty : sql` AND e.occurred_at <= ${ctx.at - rule.grace}`;
    return sql`${latest}
      SELECT f.user_id AS user_id, CAST(f.event_id AS TEXT) AS occasion, f.event_id AS event_id
      FROM f JOIN events e ON e.id = f.event_id
      WHERE ${open}${due}`;
  },
};
