import { z } from "zod";
import { duration, slug } from "../config/types";
import { whereSchema } from "./where";

/** The eight rule kinds of SPEC §7, in the SPEC's order. */
export const RULE_KINDS = [
  "welcome",
  "onboarding_stalled",
  "trial_expiring",
  "payment_failed",
  "cancellation",
  "inactivity",
  "feature_adoption",
  "custom",
] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

/** Ids of the default rules and their kinds, so a config block overriding one may leave out `kind`. */
export const DEFAULT_RULE_KINDS: Record<string, RuleKind> = {
  welcome: "welcome",
  onboarding_stalled: "onboarding_stalled",
  trial_expiring: "trial_expiring",
  payment_failed: "payment_failed",
  cancellation_save: "cancellation",
  win_back: "cancellation",
  inactive_14d: "inactivity",
  first_feature: "feature_adoption",
};

export const templateSchema = z.strictObject({
  subject: z.string().optional(),
  text: z.string().optional(),
  html: z.string().optional(),
});

/** What every rule has, whatever its kind. */
const common = {
  id: slug,
  enabled: z.boolean().optional(),
  audience: slug.optional(),
  autopilot: z.boolean().optional(),
  review_window: duration.optional(),
  throttle: z.number().int().positive().optional(),
  template: templateSchema.optional(),
};

const eventName = z.string().min(1).max(200);

/**
 * Kind parameters carry no defaults here on purpose: a block that overrides a default rule must change only
 * the keys it names (`win_back` keeps stage = churned unless told otherwise). Defaults are applied in
 * `resolveRules` (see KIND_DEFAULTS).
 */
const rules = z.discriminatedUnion(
  "kind",
  [
    z.strictObject({ ...common, kind: z.literal("welcome"), delay: duration.optional() }),
    z.strictObject({
      ...common,
      kind: z.literal("onboarding_stalled"),
      stalled_after: duration.optional(),
      final_step: z.string().min(1).optional(),
    }),
    z.strictObject({ ...common, kind: z.literal("trial_expiring"), days_before: z.number().int().min(1).max(365).optional() }),
    z.strictObject({ ...common, kind: z.literal("payment_failed"), grace: duration.optional() }),
    z.strictObject({
      ...common,
      kind: z.literal("cancellation"),
      stage: z.enum(["cancelled", "churned"]).optional(),
      delay: duration.optional(),
    }),
    z.strictObject({ ...common, kind: z.literal("inactivity"), inactive_for: duration.optional() }),
    z.strictObject({
      ...common,
      kind: z.literal("feature_adoption"),
      feature: z.string().min(1).optional(),
      after: duration.optional(),
    }),
    z
      .strictObject({
        ...common,
        kind: z.literal("custom"),
        event: eventName,
        where: whereSchema.optional(),
        delay: duration.optional(),
        // SPEC §7: "no `unless` event (with its `where`)" — an event name with `unless_where` beside it, or the
        // two together as `unless = { event = "…", where = {…} }`. Either way the rule then holds the name and
        // `unless_where`.
        unless: z.union([eventName, z.strictObject({ event: eventName, where: whereSchema.optional() })]).optional(),
        unless_where: whereSchema.optional(),
        unless_within: duration.optional(),
        repeat: z.enum(["once", "every"]).optional(),
        cooldown: duration.optional(),
      })
      .refine((r) => !(typeof r.unless === "object" && r.unless.where !== undefined && r.unless_where !== undefined), {
        error: "unless.where or unless_where, not both",
        path: ["unless_where"],
      })
      .transform(({ unless, ...r }) =>
        typeof unless === "object" ? { ...r, unless: unless.event, unless_where: unless.where ?? r.unless_where } : { ...r, unless },
      ),
  ],
  { error: `a rule kind: one of ${RULE_KINDS.join(", ")}` },
);

/** A rule block as written in the config (validated at config load). */
export const ruleSchema = z.preprocess((raw) => {
  // `[[projects.rules]] id = "win_back" enabled = false` is enough to change a default rule.
  if (raw && typeof raw === "object" && !Array.isArray(raw) && !("kind" in raw)) {
    const kind = DEFAULT_RULE_KINDS[String((raw as { id?: unknown }).id)];
    if (kind) return { ...raw, kind };
  }
  return raw;
}, rules);

export type RuleConfig = z.output<typeof rules>;

/** Kind parameter defaults (SPEC §7), in milliseconds for durations. */
export const KIND_DEFAULTS = {
  welcome: { delay: 0 },
  onboarding_stalled: { stalled_after: 2 * 86_400_000 },
  trial_expiring: { days_before: 3 },
  payment_failed: { grace: 3_600_000 },
  cancellation: { stage: "cancelled", delay: 0 },
  inactivity: { inactive_for: 14 * 86_400_000 },
  feature_adoption: { after: 3 * 86_400_000 },
  custom: { delay: 0, repeat: "once" },
} as const satisfies { [K in RuleKind]: Partial<Extract<RuleConfig, { kind: K }>> };

type Resolve<K extends RuleKind> = Omit<Extract<RuleConfig, { kind: K }>, keyof (typeof KIND_DEFAULTS)[K] | "enabled"> & {
  [P in keyof (typeof KIND_DEFAULTS)[K]]-?: NonNullable<Extract<RuleConfig, { kind: K }>[P & keyof Extract<RuleConfig, { kind: K }>]>;
} & { enabled: boolean };

/** A rule with every default applied: what the evaluator runs. */
export type ResolvedRule = { [K in RuleKind]: Resolve<K> }[RuleKind];
export type RuleOf<K extends RuleKind> = Extract<ResolvedRule, { kind: K }>;
