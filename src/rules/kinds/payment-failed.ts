import { sql } from "../sql";
import type { KindModule } from "./types";

/**
 * SPEC §7 #4: a `payment_failed` with no `subscription_changed` after it for `grace`. Once per failure (the
 * occasion is the failure's event id). Only the user's latest failure counts: an older one is superseded by
 * the newer, so a dunning sequence of retries mails once per failure still open, not once per retry ever seen.
 */
export const paymentFailed: KindModule<"payment_failed"> = {
  kind: "payment_failed",
  candidates(rule, ctx) {
    return sql`
      SELECT pf.user_id AS user_id, CAST(pf.id AS TEXT) AS occasion, pf.id AS event_id
      FROM (SELECT e.user_id, e.id, max(e.occurred_at) AS occurred_at FROM events e
            WHERE e.project_id = ${ctx.projectId} AND e.name = 'payment_failed'${ctx.onlyUser("e.user_id")} GROUP BY e.user_id) pf
      JOIN tracked_users u ON u.id = pf.user_id
      WHERE ${ctx.eligible} AND pf.occurred_at <= ${ctx.at - rule.grace}
        AND NOT EXISTS (SELECT 1 FROM events s WHERE s.user_id = pf.user_id AND s.name = 'subscription_changed' AND s.occurred_at > pf.occurred_at)`;
  },
};
