import { sql } from "../sql";
import type { KindModule } from "./types";

/**
 * SPEC §7 #2: the user has onboarding steps, has not completed `final_step` (or, when unset, the most recent
 * step is not completed), and no step activity for `stalled_after`. The occasion is the step the user stalled
 * on (the most recently touched one), so progressing and stalling again fires again.
 */
export const onboardingStalled: KindModule<"onboarding_stalled"> = {
  kind: "onboarding_stalled",
  scansUsers: false,
  candidates(rule, ctx) {
    // The step the user was last seen on: the latest `last_at`, and among steps touched in the same millisecond
    // (one batch, a second-precision client) the one that arrived last — rows are inserted in arrival order, so
    // the highest rowid. (A max() aggregate's bare columns would pick among ties arbitrarily.)
    const notFinished = rule.final_step
      ? sql`NOT EXISTS (SELECT 1 FROM onboarding_steps f WHERE f.user_id = o.user_id AND f.step = ${rule.final_step} AND f.completed = 1)`
      : sql`t.completed = 0`;
    return sql`
      SELECT o.user_id AS user_id, t.step AS occasion, NULL AS event_id
      FROM (SELECT s.user_id, max(s.last_at) AS last_at FROM onboarding_steps s
            WHERE s.project_id = ${ctx.projectId}${ctx.onlyUser("s.user_id")} GROUP BY s.user_id) o
      JOIN onboarding_steps t ON t.rowid = (SELECT l.rowid FROM onboarding_steps l WHERE l.user_id = o.user_id AND l.last_at = o.last_at ORDER BY l.rowid DESC LIMIT 1)
      JOIN tracked_users u ON u.id = o.user_id
      WHERE ${ctx.eligible} AND o.last_at <= ${ctx.at - rule.stalled_after} AND ${notFinished}`;
  },
};
