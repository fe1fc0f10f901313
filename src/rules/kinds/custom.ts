import { sql } from "../sql";
import { compileWhere } from "../where";
import type { KindModule } from "./types";

/**
 * SPEC §7 #8: an event `event` matching `where`, at least `delay` ago, with no `unless` event (matching
 * `unless_where`) within `unless_within` after it (any time after, when unset; one at the same instant counts).
 * - repeat = "once": once per user (occasion "once"), for the latest qualifying event.
 * - repeat = "every": once per qualifying event (occasion = its id) — only the latest per user each run, and
 *   with `cooldown` not while this rule fired for the user within the cooldown.
 */
export const custom: KindModule<"custom"> = {
  kind: "custom",
  scansUsers: false,
  candidates(rule, ctx) {
    const unless = rule.unless
      ? sql` AND NOT EXISTS (SELECT 1 FROM events x WHERE x.user_id = e.user_id AND x.name = ${rule.unless}
             AND x.occurred_at >= e.occurred_at AND x.id <> e.id${rule.unless_within !== undefined ? sql` AND x.occurred_at <= e.occurred_at + ${rule.unless_within}` : sql.empty}
             AND ${compileWhere("x.properties", rule.unless_where)})`
      : sql.empty;
    const occasion = rule.repeat === "every" ? sql`CAST(q.id AS TEXT)` : sql`'once'`;
    const cooldown =
      rule.repeat === "every" && rule.cooldown && ctx.mode === "evaluate"
        ? sql` AND NOT EXISTS (SELECT 1 FROM rule_firings rf WHERE ${ctx.ownFirings} AND rf.fired_at > ${ctx.at - rule.cooldown})`
        : sql.empty;
    // An evaluator run takes the latest qualifying event per user. The pre-send check of one firing takes every
    // one: with repeat = "every", a newer event (held back by the cooldown) must not make the older one's
    // approved draft look obsolete.
    const latestOnly = !(rule.repeat === "every" && ctx.mode === "check");
    // "Latest" is the latest time, then the latest arrival (id): two events in the same millisecond are two
    // events, and the second must be the one a later run finds.
    return sql`
      SELECT q.user_id AS user_id, ${occasion} AS occasion, q.id AS event_id
      FROM (SELECT e.user_id, e.id${latestOnly ? sql`, row_number() OVER (PARTITION BY e.user_id ORDER BY e.occurred_at DESC, e.id DESC) AS nth` : sql.empty} FROM events e
            WHERE e.project_id = ${ctx.projectId} AND e.name = ${rule.event} AND e.occurred_at <= ${ctx.at - rule.delay}${ctx.onlyUser("e.user_id")}
              AND ${compileWhere("e.properties", rule.where)}${unless}) q
      JOIN tracked_users u ON u.id = q.user_id
      WHERE ${ctx.eligible}${latestOnly ? sql` AND q.nth = 1` : sql.empty}${cooldown}`;
  },
};
