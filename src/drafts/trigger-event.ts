import type { Executor } from "../mail/tokens";
import type { DraftMatch } from "./types";

/**
 * The event behind a match whose rule kind names none (SPEC §8: a template's `event` is "the triggering event, if
 * any"): the user's latest event of these names — the cancellation a save email answers, the trial reminder, the
 * onboarding step that stalled, the signup a feature was never used after. Looked up when drafts are made, not in
 * the evaluator's queries, so a first run over every user pays it once per draft only — one index seek each
 * (events_user_name_time). Not for `inactivity`: its user's last event of any name has no index to find it by
 * (every event of the user would be read and sorted), and `user.last_seen_at` already says when it was.
 */
const TRIGGER_EVENTS: Readonly<Record<string, readonly string[]>> = {
  trial_expiring: ["trial_expiring", "trial_started"],
  cancellation: ["subscription_cancelled"],
  onboarding_stalled: ["onboarding_step"],
  feature_adoption: ["user_signed_up"],
};

/** Each match's event id: its own, else its kind's triggering event (above), else none. */
export async function triggeringEventIds(exec: Executor, matches: readonly DraftMatch[]): Promise<(number | null)[]> {
  const ids = matches.map((m) => m.eventId ?? null);
  const wanted = new Map<string, number[]>(); // kind → indexes of matches to look up
  matches.forEach((m, i) => {
    if (ids[i] !== null || !TRIGGER_EVENTS[m.ruleKind]) return;
    const list = wanted.get(m.ruleKind);
    if (list) list.push(i);
    else wanted.set(m.ruleKind, [i]);
  });
  for (const [kind, indexes] of wanted) {
    const names = TRIGGER_EVENTS[kind]!;
    const rows = await exec.execute({
      sql: `SELECT u.key AS i, (SELECT e.id FROM events e WHERE e.user_id = u.value AND e.name IN (SELECT value FROM json_each(?2))
                               ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) AS event_id
            FROM json_each(?1) u`,
      args: [JSON.stringify(indexes.map((i) => matches[i]!.userId)), JSON.stringify(names)],
    });
    for (const r of rows.rows) if (r.event_id !== null) ids[indexes[Number(r.i)]!] = Number(r.event_id);
  }
  return ids;
}
