import type { RuleKind, ResolvedRule } from "../schema";
import type { Fragment } from "../sql";
import { cancellation } from "./cancellation";
import { custom } from "./custom";
import { featureAdoption } from "./feature-adoption";
import { inactivity } from "./inactivity";
import { onboardingStalled } from "./onboarding-stalled";
import { paymentFailed } from "./payment-failed";
import { trialExpiring } from "./trial-expiring";
import type { KindContext, KindModule } from "./types";
import { welcome } from "./welcome";

const KINDS: { [K in RuleKind]: KindModule<K> } = {
  welcome,
  onboarding_stalled: onboardingStalled,
  trial_expiring: trialExpiring,
  payment_failed: paymentFailed,
  cancellation,
  inactivity,
  feature_adoption: featureAdoption,
  custom,
};

/** The candidate SELECT (`user_id, occasion, event_id`) of any rule. */
export function buildCandidates(rule: ResolvedRule, ctx: KindContext): Fragment {
  const module = KINDS[rule.kind] as KindModule<typeof rule.kind>;
  return module.candidates(rule as never, ctx);
}

export type { KindContext } from "./types";

/** Whether the rule's query may be split into user-id ranges (see `KindModule.scansUsers`). */
export function scansUsers(rule: ResolvedRule): boolean {
  return KINDS[rule.kind].scansUsers;
}
