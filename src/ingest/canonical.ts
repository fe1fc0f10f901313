/**
 * The canonical lifecycle events (SPEC §4) and the properties the API checks on them. Each property may be sent
 * in camelCase or snake_case (`trialDays` ≡ `trial_days`); both spellings are checked when both are present
 * (different values are the normaliser's business: it quarantines them as ambiguous).
 */
export type PropertyType = "string" | "number" | "integer" | "boolean" | "email" | "iso";

export type PropertySpec = {
  /** camelCase spelling, as the SDK sends it. */
  camel: string;
  /** snake_case spelling, the canonical storage form. */
  snake: string;
  type: PropertyType;
  required: boolean;
};

function prop(camel: string, snake: string, type: PropertyType, required = false): PropertySpec {
  return { camel, snake, type, required };
}

/** In SPEC §4 order (exported as `STANDARD_EVENT_NAMES` in that order). */
export const STANDARD_EVENT_NAMES = [
  "user_signed_up",
  "trial_started",
  "feature_used",
  "onboarding_step",
  "subscription_changed",
  "subscription_cancelled",
  "payment_failed",
  "trial_expiring",
  "user_invited",
] as const;

export type StandardEventName = (typeof STANDARD_EVENT_NAMES)[number];

export const CANONICAL_PROPERTIES: Readonly<Record<StandardEventName, readonly PropertySpec[]>> = {
  user_signed_up: [prop("plan", "plan", "string"), prop("source", "source", "string")],
  trial_started: [prop("trialDays", "trial_days", "number")],
  feature_used: [prop("feature", "feature", "string", true), prop("count", "count", "number")],
  onboarding_step: [prop("step", "step", "string", true), prop("completed", "completed", "boolean")],
  subscription_changed: [
    prop("from", "from", "string"),
    prop("to", "to", "string", true),
    prop("interval", "interval", "string"),
    prop("mrr", "mrr", "integer"),
  ],
  subscription_cancelled: [prop("reason", "reason", "string"), prop("effectiveAt", "effective_at", "iso")],
  payment_failed: [prop("reason", "reason", "string")],
  trial_expiring: [prop("daysLeft", "days_left", "number", true)],
  user_invited: [prop("invitedEmail", "invited_email", "email", true)],
};

/** The specs of a canonical event name, or undefined for a custom event. */
export function canonicalSpecs(name: string): readonly PropertySpec[] | undefined {
  return Object.hasOwn(CANONICAL_PROPERTIES, name) ? CANONICAL_PROPERTIES[name as StandardEventName] : undefined;
}
