import { sql } from "../sql";
import type { KindModule } from "./types";

/**
 * SPEC §7 #4: a `payment_failed` with no `subscription_changed` after it for `grace`. Once per failure (the
 * occasion is the failure's event id).
 *
 * Only the user's latest failure counts, and once per dunning sequence: retries while the user stays past_due
 * supersede each other and send nothing more once the rule fired. Only users still `past_due`: the stage a
 * failure sets "until the next subscription_changed" (SPEC §4). A user who cancelled meanwhile gets the
 * cancellation rules instead. Driving from the stage index and reading each user's latest failure from the
 * (user, name, time) index keeps this to a few index probes per past-due user.
 */
export const paymentFailed: KindModule<"payment_failed"> = {
  kind: "payment_failed",
  scansUsers: true,
  candidates(rule, ctx) {
    // One email per dunning sequence: not again while the user stays past_due after this rule emailed them. A
    // firing belongs to the current spell when the failure it fired for happened since the user became past_due
    // (stage_changed_at is event time): comparing the firing's own wall-clock time instead would count a recovery
    // and a new failure dated before the email (late or backfilled events) as the old spell. Should retention
    // have deleted that event, the firing's time stands in.
    const firedFor = sql`COALESCE((SELECT e.occurred_at FROM events e WHERE e.id = CAST(rf.occasion AS INTEGER)), rf.fired_at)`;
    const thisSpell = sql`${ctx.ownFirings} AND ${firedFor} >= u.stage_changed_at`;
    if (ctx.mode === "check") {
      // The pre-send check of that email: the user is still past_due (no subscription_changed since), whichever
      // retry failed last.
      return sql`SELECT u.id AS user_id, rf.occasion AS occasion, NULL AS event_id
        FROM tracked_users u JOIN rule_firings rf ON ${thisSpell}
        WHERE ${ctx.eligible} AND u.stage = 'past_due'`;
    }
    const latest = sql`SELECT u.id AS user_id,
        (SELECT max(e.occurred_at) FROM events e WHERE e.user_id = u.id AND e.name = 'payment_failed') AS failed_at
      FROM tracked_users u WHERE ${ctx.eligible} AND u.stage = 'past_due' AND NOT EXISTS (SELECT 1 FROM rule_firings rf WHERE ${thisSpell})`;
    // MATERIALIZED: computed once per user, not re-evaluated wherever the outer query mentions the column.
    return sql`WITH f AS MATERIALIZED (${latest}),
      p AS MATERIALIZED (SELECT f.user_id,
          (SELECT max(e.id) FROM events e WHERE e.user_id = f.user_id AND e.name = 'payment_failed' AND e.occurred_at = f.failed_at) AS event_id
        FROM f
        WHERE f.failed_at <= ${ctx.at - rule.grace}
          AND NOT EXISTS (SELECT 1 FROM events s WHERE s.user_id = f.user_id AND s.name = 'subscription_changed' AND s.occurred_at > f.failed_at))
      SELECT p.user_id AS user_id, CAST(p.event_id AS TEXT) AS occasion, p.event_id AS event_id FROM p`;
  },
};
