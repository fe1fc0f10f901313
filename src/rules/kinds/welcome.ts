import { sql } from "../sql";
import type { KindModule } from "./types";

/**
 * SPEC §7 #1: the user has a `user_signed_up` at least `delay` ago. Once per user; users created by a
 * backfill never get one. The triggering event is the first signup event.
 */
export const welcome: KindModule<"welcome"> = {
  kind: "welcome",
  scansUsers: true,
  candidates(rule, ctx) {
    return sql`
      SELECT u.id AS user_id, 'once' AS occasion,
        (SELECT min(ev.id) FROM events ev WHERE ev.user_id = u.id AND ev.name = 'user_signed_up' AND ev.occurred_at <= ${ctx.at - rule.delay}) AS event_id
      FROM tracked_users u
      WHERE ${ctx.eligible} AND u.backfilled = 0
        AND EXISTS (SELECT 1 FROM events ev WHERE ev.user_id = u.id AND ev.name = 'user_signed_up' AND ev.occurred_at <= ${ctx.at - rule.delay})`;
  },
};
