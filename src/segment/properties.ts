import { isPlainObject } from "../ingest/rules";
import { toSnakeCase } from "../lib/case";
import { DAY } from "../lib/durations";
import { parseTime } from "../pipeline/normalise";
import { isCompletedStep } from "./names";

/** The value under `key` in any spelling (`trialEndDate` ≡ `trial_end_date`), like the normaliser reads it. */
function pick(obj: Record<string, unknown>, snake: string): unknown {
  for (const k of Object.keys(obj)) if (toSnakeCase(k) === snake) return obj[k];
  return undefined;
}

function hasKey(obj: Record<string, unknown>, snake: string): boolean {
  return Object.keys(obj).some((k) => toSnakeCase(k) === snake);
}

/** Sets `to` from the first of `from` present, only when no spelling of `to` was sent. */
function alias(props: Record<string, unknown>, to: string, ...from: string[]): void {
  if (hasKey(props, to)) return;
  for (const f of from) {
    const v = pick(props, f);
    if (v !== undefined && v !== null) {
      props[to] = v;
      return;
    }
  }
}

/**
 * Segment's B2B SaaS spec names some properties differently from SPEC §4 (`invitee_email`, `trial_end_date`,
 * `plan_name`). For the canonical events the Segment spelling fills the canonical property when that one is
 * absent — additive only: nothing sent is changed or removed, and a wrong type still reaches the normaliser,
 * which quarantines it (SPEC §5.3).
 */
export function adaptProperties(name: string, event: string, input: unknown, occurredAt: number | undefined): unknown {
  if (input != null && !isPlainObject(input)) return input; // not an object: the normaliser quarantines it
  const props: Record<string, unknown> = { ...((input as Record<string, unknown> | undefined) ?? {}) };
  switch (name) {
    case "user_invited":
      alias(props, "invited_email", "invitee_email", "email");
      break;
    case "feature_used":
      alias(props, "feature", "feature_name", "name");
      break;
    case "onboarding_step":
      alias(props, "step", "step_name", "name");
      if (isCompletedStep(event) && !hasKey(props, "completed")) props.completed = true;
      break;
    case "subscription_changed":
      alias(props, "to", "plan_name", "plan", "new_plan");
      alias(props, "from", "previous_plan_name", "previous_plan", "old_plan");
      break;
    case "trial_started": {
      const end = parseTime(pick(props, "trial_end_date"));
      const start = parseTime(pick(props, "trial_start_date")) ?? occurredAt;
      if (!hasKey(props, "trial_days") && end !== undefined && start !== undefined) props.trial_days = Math.max(0, Math.round((end - start) / DAY));
      break;
    }
    case "trial_expiring": {
      const end = parseTime(pick(props, "trial_end_date"));
      if (!hasKey(props, "days_left") && end !== undefined && occurredAt !== undefined) props.days_left = Math.max(0, Math.round((end - occurredAt) / DAY));
      break;
    }
  }
  return input == null && Object.keys(props).length === 0 ? undefined : props;
}

/**
 * Segment's reserved identify traits in Vibefollow's columns: `company` is an object there (`{name, id, …}`)
 * but a string here (its name; the id goes to `company_id`), `firstName`/`lastName` make `name` when no name
 * is sent, and `createdAt` (when the account was created) is the `signup_date` unless one is sent.
 */
export function adaptTraits(input: unknown): unknown {
  if (!isPlainObject(input)) return input;
  const traits: Record<string, unknown> = { ...input };
  const company = pick(traits, "company");
  if (isPlainObject(company)) {
    for (const k of Object.keys(traits)) if (toSnakeCase(k) === "company") delete traits[k];
    if (typeof company.name === "string") traits.company = company.name;
    if (company.id != null && !hasKey(traits, "company_id")) traits.company_id = company.id;
  }
  if (!hasKey(traits, "name")) {
    const parts = [pick(traits, "first_name"), pick(traits, "last_name")].filter((p) => typeof p === "string" && p.trim() !== "");
    if (parts.length > 0) traits.name = parts.join(" ");
  }
  if (!hasKey(traits, "signup_date")) {
    const created = pick(traits, "created_at");
    if (created != null && parseTime(created) !== undefined) traits.signup_date = created;
  }
  return traits;
}
