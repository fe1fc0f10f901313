import { churnTimeSql } from "../../pipeline";
import { sql } from "../sql";
import type { KindModule } from "./types";

/**
 * SPEC §7 #5: the user entered `stage` at least `delay` ago and is still in it. Once per entry: the occasion
 * is the entry time (the user's `stage_changed_at`, else the latest entry in stage_history).
 *
 * A cancelled user whose `churn_at` has passed counts as churned since then (as `applyChurnIn` will record it),
 * even before a run has applied the churn: a dry run, a preview or a pre-send check between two runs must not
 * see `cancellation_save` where the run itself finds `win_back`. In a run, churn is applied first, so this
 * changes nothing there.
 */
export const cancellation: KindModule<"cancellation"> = {
  kind: "cancellation",
  scansUsers: true,
  candidates(rule, ctx) {
    const churnDue = sql`(u.stage = 'cancelled' AND u.churn_at <= ${ctx.at})`;
    const recorded = sql`COALESCE(u.stage_changed_at, (SELECT max(h.at) FROM stage_history h WHERE h.user_id = u.id AND h.to_stage = u.stage))`;
    const churnedAt = sql.raw(churnTimeSql("u."), []);
    const inStage =
      rule.stage === "churned"
        ? sql`(u.stage = 'churned' OR ${churnDue})`
        : sql`u.stage = ${rule.stage} AND NOT COALESCE(${churnDue}, 0)`;
    const entered = rule.stage === "churned" ? sql`(CASE WHEN ${churnDue} THEN ${churnedAt} ELSE ${recorded} END)` : recorded;
    return sql`
      SELECT u.id AS user_id, CAST(${entered} AS TEXT) AS occasion, NULL AS event_id
      FROM tracked_users u
      WHERE ${ctx.eligible} AND ${inStage} AND ${entered} <= ${ctx.at - rule.delay}`;
  },
};
