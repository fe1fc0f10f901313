import { sql } from "../sql";
import type { KindModule } from "./types";

/**
 * SPEC §7 #5: the user entered `stage` at least `delay` ago and is still in it. Once per entry: the occasion
 * is the entry time (the user's `stage_changed_at`, else the latest entry in stage_history).
 */
export const cancellation: KindModule<"cancellation"> = {
  kind: "cancellation",
  scansUsers: true,
  candidates(rule, ctx) {
    const entered = sql`COALESCE(u.stage_changed_at, (SELECT max(h.at) FROM stage_history h WHERE h.user_id = u.id AND h.to_stage = u.stage))`;
    return sql`
      SELECT u.id AS user_id, CAST(${entered} AS TEXT) AS occasion, NULL AS event_id
      FROM tracked_users u
      WHERE ${ctx.eligible} AND u.stage = ${rule.stage} AND ${entered} <= ${ctx.at - rule.delay}`;
  },
};
