import type { ProjectConfig } from "../config/schema";
import { DAY, HOUR, WEEK } from "../lib/durations";
import type { Executor } from "../mail/tokens";

/** Real sends only: test messages and failed ones do not count; queued/sending ones do (they are on their way). */
const COUNTED = "is_test = 0 AND state != 'failed'";

/**
 * The earliest instant when `limit` more sends fit a rolling `window`, given the send times in it (ascending):
 * with k sends in the window, the (k - limit + 1)-th oldest must leave it first.
 */
function freeAt(times: number[], limit: number, window: number): number | undefined {
  if (limit <= 0 || times.length < limit) return undefined;
  return times[times.length - limit]! + window; // the oldest leaves the window (t - window, t] at exactly this instant
}

async function sendTimes(exec: Executor, where: string, args: (string | number)[], since: number): Promise<number[]> {
  const rows = (
    await exec.execute({ sql: `SELECT created_at FROM messages WHERE ${where} AND ${COUNTED} AND created_at > ? ORDER BY created_at`, args: [...args, since] })
  ).rows;
  return rows.map((r) => Number(r.created_at));
}

/**
 * When the frequency cap (per user per project: `per_day` in 24 h, `per_week` in 7 days, rolling; 0 = no cap)
 * and the rule's `throttle` (its sends per hour across all users) allow a send, if not at `t`.
 * Returns undefined when sending at `t` is allowed, else the earliest allowed instant and why.
 */
export async function nextAllowedSend(
  exec: Executor,
  project: ProjectConfig,
  ruleId: string,
  throttle: number | undefined,
  userId: number,
  t: number,
): Promise<{ at: number; why: string } | undefined> {
  const limits: { at: number; why: string }[] = [];
  const { per_day, per_week } = project.frequency_cap;
  if (per_day > 0 || per_week > 0) {
    const week = await sendTimes(exec, "project_id = ? AND user_id = ?", [project.id, userId], t - WEEK);
    const day = week.filter((x) => x > t - DAY);
    const d = freeAt(day, per_day, DAY);
    const w = freeAt(week, per_week, WEEK);
    if (d !== undefined) limits.push({ at: d, why: `frequency cap: ${per_day} per day` });
    if (w !== undefined) limits.push({ at: w, why: `frequency cap: ${per_week} per week` });
  }
  if (throttle !== undefined && throttle > 0) {
    const hour = await sendTimes(exec, "project_id = ? AND rule_id = ?", [project.id, ruleId], t - HOUR);
    const h = freeAt(hour, throttle, HOUR);
    if (h !== undefined) limits.push({ at: h, why: `rule throttle: ${throttle} per hour` });
  }
  if (limits.length === 0) return undefined;
  return limits.reduce((a, b) => (b.at > a.at ? b : a));
}
