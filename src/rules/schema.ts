import { z } from "zod";
import { duration, slug } from "../config/types";

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

export const templateSchema = z.strictObject({
  subject: z.string().optional(),
  text: z.string().optional(),
  html: z.string().optional(),
});

/** What every rule has, whatever its kind. Kind parameters are checked by `ruleParamSchemas`. */
const common = {
  id: slug,
  enabled: z.boolean().default(true),
  audience: slug.optional(),
  autopilot: z.boolean().optional(),
  review_window: duration.optional(),
  throttle: z.number().int().positive().optional(),
  template: templateSchema.optional(),
};

const whereSchema = z.record(z.string(), z.unknown());

export const ruleSchema = z.discriminatedUnion("kind", [
  z.strictObject({ ...common, kind: z.literal("welcome"), delay: duration.default(0) }),
  z.strictObject({
    ...common,
    kind: z.literal("onboarding_stalled"),
    stalled_after: duration.default(2 * 86_400_000),
    final_step: z.string().min(1).optional(),
  }),
  z.strictObject({ ...common, kind: z.literal("trial_expiring"), days_before: z.number().int().min(0).max(365).default(3) }),
  z.strictObject({ ...common, kind: z.literal("payment_failed"), grace: duration.default(3_600_000) }),
  z.strictObject({
    ...common,
    kind: z.literal("cancellation"),
    stage: z.enum(["cancelled", "churned"]).default("cancelled"),
    delay: duration.default(0),
  }),
  z.strictObject({ ...common, kind: z.literal("inactivity"), inactive_for: duration.default(14 * 86_400_000) }),
  z.strictObject({
    ...common,
    kind: z.literal("feature_adoption"),
    feature: z.string().min(1).optional(),
    after: duration.default(3 * 86_400_000),
  }),
  z.strictObject({
    ...common,
    kind: z.literal("custom"),
    event: z.string().min(1).max(200),
    where: whereSchema.optional(),
    delay: duration.default(0),
    unless: z.string().min(1).max(200).optional(),
    unless_where: whereSchema.optional(),
    unless_within: duration.optional(),
    repeat: z.enum(["once", "every"]).default("once"),
    cooldown: duration.optional(),
  }),
], { error: `a rule kind: one of ${RULE_KINDS.join(", ")}` });

export type RuleConfig = z.output<typeof ruleSchema>;
