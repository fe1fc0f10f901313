import type { Stage } from "../db/schema/pipeline";
import { DAY } from "../lib/durations";
import { parseTime, type TrackItem } from "./normalise";
import type { UserState } from "./user-state";

/**
 * Derived state from one event (SPEC §4, §5.4, §5.5). Events may arrive out of order; the rules that keep
 * them from rewinding the user (also in docs/pipeline.md):
 *
 * - `last_seen_at` only grows (and never past a day after the event is applied), `first_seen_at` only shrinks.
 * - Stages are ranked signed_up < trialing < active < past_due < cancelled < churned. A canonical event moves
 *   the user only *forward* in that order. The one move back is the SPEC's: a `subscription_changed` with
 *   mrr > 0 brings any stage back to `active`. So "regress" = any move that is backward in rank (other than
 *   that).
 * - An event older than `stage_changed_at` (the time of the event behind the current stage) is placed where it
 *   belongs in time: had it come first, the later event would have moved the user on from it only forward in
 *   rank (or back to `active`, paid). So it wins only over a lower, non-`active` stage — a signup "now" does
 *   not hide a subscription from three hours ago — and then dates the stage with its own time.
 * - plan/interval/mrr and trial end are likewise set only by an event not older than the one that last set
 *   them (`billing_changed_at`: the latest `subscription_changed`; `trial_changed_at`). A signup's `plan` is the
 *   initial plan: it applies only while no `subscription_changed` has.
 * - A `subscription_changed` ends what came before it: an older `payment_failed`, or an older cancellation
 *   when that subscription is paid, arriving late moves nothing (even though a renewal that kept the user
 *   `active` did not change `stage_changed_at`).
 */

export const STAGE_RANK: Readonly<Record<Stage, number>> = {
  signed_up: 0,
  trialing: 1,
  active: 2,
  past_due: 3,
  cancelled: 4,
  churned: 5,
};

export type StageChange = { userId: number; from: Stage | null; to: Stage; at: number };
export type FeatureUse = { feature: string; count: number; at: number };
export type StepSeen = { step: string; completed: boolean; at: number };

/** What one event did beyond the user row: rows for stage_history, feature_usage, onboarding_steps. */
export type Effects = { stage?: StageChange; feature?: FeatureUse; step?: StepSeen };

/** Moves the stage when the rules above allow it; returns the change to record. */
export function moveStage(u: UserState, to: Stage, at: number, comeback = false): StageChange | undefined {
  if (u.stage === to) return undefined;
  if (u.stageChangedAt !== null && at < u.stageChangedAt) {
    if (u.stage === null || u.stage === "active" || STAGE_RANK[to] < STAGE_RANK[u.stage]) return undefined;
    comeback = true; // forward in time order, checked just above
  }
  if (u.stage !== null && !comeback && STAGE_RANK[to] < STAGE_RANK[u.stage]) return undefined;
  const change: StageChange = { userId: u.id, from: u.stage, to, at };
  u.full = true;
  if (u.stage === "cancelled" || to === "active") u.churnAt = null;
  u.stage = to;
  u.stageChangedAt = at;
  return change;
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const numb = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

function setTrialEnd(u: UserState, at: number, days: number | undefined): void {
  if (days === undefined || (u.trialChangedAt !== null && at < u.trialChangedAt)) return;
  u.trialEndsAt = Math.round(at + days * DAY);
  u.trialChangedAt = at;
  u.full = true;
}

/** Applies one event to the user in memory (counters, times, canonical effects). */
export function applyEvent(u: UserState, e: TrackItem, churnGraceMs: number, at: number): Effects {
  const t = e.occurredAt;
  const p = e.properties;
  u.eventCount += 1;
  // No time more than 24 h past its arrival gets here (normaliseTrack), so last_seen_at cannot be pinned ahead.
  if (u.lastSeenAt === null || t > u.lastSeenAt) u.lastSeenAt = t;
  if (u.firstSeenAt === null || t < u.firstSeenAt) u.firstSeenAt = t;
  u.updatedAt = at;
  u.dirty = true;
  switch (e.name) {
    case "user_signed_up": {
      const plan = str(p.plan);
      if (plan !== undefined && u.billingChangedAt === null) {
        u.plan = plan;
        u.full = true;
      }
      if (u.signupDate === null) (u.signupDate = t), (u.full = true);
      return { stage: moveStage(u, "signed_up", t) };
    }
    case "trial_started":
      setTrialEnd(u, t, numb(p.trial_days));
      return { stage: moveStage(u, "trialing", t) };
    case "trial_expiring":
      setTrialEnd(u, t, numb(p.days_left));
      // A trial that is expiring is a trial: a user with no stage yet, or only signed up, is `trialing` from here
      // (backends that report only the end of a trial, e.g. from their billing provider, still get the
      // trial_expiring rule). Forward only, like every stage move: a paying or cancelled user stays where they are.
      return u.stage === null || u.stage === "signed_up" ? { stage: moveStage(u, "trialing", t) } : {};
    case "subscription_changed": {
      if (u.billingChangedAt !== null && t < u.billingChangedAt) {
        // Older than the latest billing change: it sets no billing field, but a paid one says the user was
        // subscribed then — judged where it belongs in time, like any late stage event (moveStage).
        return typeof p.mrr === "number" && p.mrr > 0 ? { stage: moveStage(u, "active", t, true) } : {};
      }
      u.plan = str(p.to) ?? u.plan;
      if (typeof p.interval === "string") u.interval = p.interval;
      if (typeof p.mrr === "number") u.mrr = p.mrr;
      u.billingChangedAt = t;
      u.full = true;
      // mrr absent keeps the user's current mrr: a plan change of a paying (or past_due) user is still paid.
      // SPEC §4: past_due lasts "until the next subscription_changed" — a move to a free plan (mrr 0) ends it too,
      // as `active` on the free plan (the `paying` audience also requires mrr > 0).
      if ((u.mrr ?? 0) > 0 || u.stage === "past_due") return { stage: moveStage(u, "active", t, true) };
      return {};
    }
    case "subscription_cancelled": {
      if (u.billingChangedAt !== null && t < u.billingChangedAt && (u.mrr ?? 0) > 0) return {};
      const stage = moveStage(u, "cancelled", t);
      if (u.stage === "cancelled" && t >= (u.stageChangedAt ?? t)) {
        u.churnAt = (parseTime(p.effective_at) ?? t) + churnGraceMs;
        u.full = true;
      }
      return { stage };
    }
    case "payment_failed":
      if (u.billingChangedAt !== null && t < u.billingChangedAt) return {};
      return { stage: moveStage(u, "past_due", t) };
    case "feature_used": {
      const feature = str(p.feature);
      return feature === undefined ? {} : { feature: { feature, count: numb(p.count) ?? 1, at: t } };
    }
    case "onboarding_step": {
      const step = str(p.step);
      return step === undefined ? {} : { step: { step, completed: p.completed === true, at: t } };
    }
    default:
      return {};
  }
}
