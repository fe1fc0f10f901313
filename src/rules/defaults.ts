import { DAY, HOUR } from "../lib/durations";
import type { RuleConfig } from "./schema";

/**
 * The default rules every project gets (SPEC §7). A config rule with one of these ids overrides only the keys
 * it sets; `enabled = false` turns one off. Their templates live with the drafts (src/drafts/).
 */
export const DEFAULT_RULES: readonly RuleConfig[] = Object.freeze([
  { id: "welcome", kind: "welcome" },
  { id: "onboarding_stalled", kind: "onboarding_stalled" },
  { id: "trial_expiring", kind: "trial_expiring" },
  { id: "payment_failed", kind: "payment_failed" },
  { id: "cancellation_save", kind: "cancellation", stage: "cancelled", delay: HOUR },
  { id: "win_back", kind: "cancellation", stage: "churned", delay: 30 * DAY },
  { id: "inactive_14d", kind: "inactivity" },
  { id: "first_feature", kind: "feature_adoption" },
]);
