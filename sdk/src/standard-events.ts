import * as v from "valibot";

/** The nine canonical lifecycle events (SPEC §4), in order. Default rules look for these names. */
export const STANDARD_EVENT_NAMES = Object.freeze([
  "user_signed_up",
  "trial_started",
  "feature_used",
  "onboarding_step",
  "subscription_changed",
  "subscription_cancelled",
  "payment_failed",
  "trial_expiring",
  "user_invited",
] as const);

export type StandardEventName = (typeof STANDARD_EVENT_NAMES)[number];

// ISO 8601 date or date-time exactly as the server reads it (its parseIsoTimestamp): "T", "t" or a space before
// the time, seconds and fractions optional, a zone of Z or ±hh:mm / ±hhmm / ±hh, none meaning UTC. Date.parse alone
// would take "March 7", roll 30 February over to March and read a zone-less time as local.
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:[Zz]|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

/** 400 Gregorian years (146,097 days), in milliseconds: the calendar repeats exactly after them. */
const FOUR_CENTURIES_MS = 146_097 * 86_400_000;

/** The instant an ISO 8601 text names (ms since the epoch), or undefined when the server would refuse it. */
export function parseIsoTime(value: string): number | undefined {
  const m = value.length <= 40 ? ISO_8601.exec(value) : null;
  if (!m) return undefined;
  const [y, mo, d, h = 0, mi = 0, s = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) => (x === undefined ? undefined : Number(x))) as number[];
  // Year 0000 is outside what the server stores (0001–9999).
  if (y! < 1 || mo! < 1 || mo! > 12 || d! < 1 || d! > new Date(Date.UTC(y!, mo!, 0)).getUTCDate()) return undefined;
  if (h > 23 || mi > 59 || s > 59) return undefined;
  const offsetMinutes = Number(m[10] ?? 0); // ±hh alone: whole hours
  const offset = m[8] === undefined ? 0 : (m[8] === "-" ? -1 : 1) * (Number(m[9]) * 60 + offsetMinutes) * 60_000;
  if (m[8] !== undefined && (Number(m[9]) > 23 || offsetMinutes > 59)) return undefined;
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, "0"));
  // Date.UTC reads years 0–99 as 1900–1999: compute 400 years on (the calendar repeats), then move back.
  const early = y! < 100;
  return Date.UTC(early ? y! + 400 : y!, mo! - 1, d!, h, mi, s, ms) - (early ? FOUR_CENTURIES_MS : 0) - offset;
}

export function isIsoDate(value: string): boolean {
  return parseIsoTime(value) !== undefined;
}

const text = v.string("must be a string");
const num = v.pipe(v.number("must be a number"), v.finite("must be a finite number"));
const isoTime = v.union(
  [v.pipe(v.date(), v.check((d) => !Number.isNaN(d.getTime()))), v.pipe(v.string(), v.check(isIsoDate))],
  "must be an ISO 8601 date string or a Date",
);

/**
 * Property schemas of the canonical events. Required keys are the ones SPEC §4 marks bold; every
 * other key is optional (null counts as absent, as on the server) but, when present, must have the listed type.
 * Extra keys pass through.
 */
export const STANDARD_EVENT_SCHEMAS = {
  user_signed_up: v.looseObject({ plan: v.nullish(text), source: v.nullish(text) }),
  trial_started: v.looseObject({ trialDays: v.nullish(num) }),
  feature_used: v.looseObject({ feature: v.pipe(text, v.minLength(1, "must not be empty")), count: v.nullish(num) }),
  onboarding_step: v.looseObject({
    step: v.pipe(text, v.minLength(1, "must not be empty")),
    completed: v.nullish(v.boolean("must be a boolean")),
  }),
  subscription_changed: v.looseObject({
    from: v.nullish(text),
    to: text,
    interval: v.nullish(text),
    mrr: v.nullish(v.pipe(num, v.integer("must be an integer (cents)"))),
  }),
  subscription_cancelled: v.looseObject({ reason: v.nullish(text), effectiveAt: v.nullish(isoTime) }),
  payment_failed: v.looseObject({ reason: v.nullish(text) }),
  trial_expiring: v.looseObject({ daysLeft: num }),
  user_invited: v.looseObject({ invitedEmail: v.pipe(text, v.email("must be an email address")) }),
} as const satisfies Record<StandardEventName, v.GenericSchema>;

/** Properties each canonical event takes; TypeScript enforces the required ones. */
export type StandardEventProperties = {
  [N in StandardEventName]: v.InferInput<(typeof STANDARD_EVENT_SCHEMAS)[N]>;
};

/** Canonical event names get their typed properties; any other name takes a free-form object. */
export type PropertiesFor<N extends string> = N extends StandardEventName
  ? StandardEventProperties[N]
  : Record<string, unknown>;

export type SignedUpProperties = StandardEventProperties["user_signed_up"];
export type TrialStartedProperties = StandardEventProperties["trial_started"];
export type FeatureUsedProperties = StandardEventProperties["feature_used"];
export type OnboardingStepProperties = StandardEventProperties["onboarding_step"];
export type SubscriptionChangedProperties = StandardEventProperties["subscription_changed"];
export type SubscriptionCancelledProperties = StandardEventProperties["subscription_cancelled"];
export type PaymentFailedProperties = StandardEventProperties["payment_failed"];
export type TrialExpiringProperties = StandardEventProperties["trial_expiring"];
export type UserInvitedProperties = StandardEventProperties["user_invited"];

export function isStandardEventName(name: string): name is StandardEventName {
  return (STANDARD_EVENT_NAMES as readonly string[]).includes(name);
}
