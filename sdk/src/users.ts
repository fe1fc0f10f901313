import { ValidationError } from "./errors.js";
import { BULK_LIMIT, type Events, type TrackOptions } from "./events.js";
import type { HttpClient } from "./http.js";
import { toBulkResult, type Accepted, type BulkResult } from "./results.js";
import type {
  FeatureUsedProperties,
  OnboardingStepProperties,
  PaymentFailedProperties,
  SignedUpProperties,
  SubscriptionCancelledProperties,
  SubscriptionChangedProperties,
  TrialExpiringProperties,
  TrialStartedProperties,
  UserInvitedProperties,
} from "./standard-events.js";
import { checkObject, checkUserId } from "./validate.js";

/**
 * Who a user is. The known traits get their own columns on the server; any other key is stored
 * too. A trait set to `null` is removed.
 */
export interface Traits {
  email?: string | null;
  name?: string | null;
  plan?: string | null;
  signupDate?: Date | string | null;
  company?: string | null;
  role?: string | null;
  [key: string]: unknown;
}

/**
 * One record of `identifyBulk`: `{ userId, traits }` as `identify(userId, traits)` takes them, or the API's own
 * record `{ external_user_id, email, traits }` (SPEC §3), for code that already builds those.
 */
export type BulkUser = { userId: string; traits?: Traits } | { external_user_id: string; email?: string | null; traits?: Traits };

export class Users {
  constructor(
    private readonly http: HttpClient,
    private readonly events: Events,
  ) {}

  /**
   * Creates or updates a user (matched by your own `userId`).
   *
   * @example
   * await vf.users.identify("user_123", { email: "ada@example.com", name: "Ada", plan: "pro" });
   */
  async identify(userId: string, traits: Traits = {}): Promise<Accepted> {
    checkUserId(userId);
    const { email } = checkObject(traits, "traits");
    if (email !== undefined && email !== null && typeof email !== "string") throw new ValidationError("must be a string", "email");
    const body = toWire(userId, traits);
    return (await this.http.post<Accepted>("/api/v1/users", body)).data;
  }

  /**
   * Identifies up to 1,000 users in one request; each succeeds or fails on its own. Use `chunk()` for more.
   *
   * @example
   * const { accepted, errors } = await vf.users.identifyBulk([{ userId: "u1", traits: { email: "a@x.io" } }]);
   */
  async identifyBulk(users: readonly BulkUser[]): Promise<BulkResult> {
    if (!Array.isArray(users) || users.length === 0 || users.length > BULK_LIMIT) {
      throw new ValidationError(`must hold 1 to ${BULK_LIMIT} users; split larger sets with chunk()`, "users");
    }
    // Not validated per record here: the server reports each refused record in `errors`.
    const body = {
      users: users.map((u) =>
        "userId" in u ? toWire(u.userId, u.traits ?? {}) : toWire(u.external_user_id, u.email === undefined ? (u.traits ?? {}) : { ...u.traits, email: u.email }),
      ),
    };
    const res = await this.http.post<unknown>("/api/v1/users/bulk", body);
    return toBulkResult(res.data, res.meta, users.length);
  }

  // The nine canonical lifecycle events (SPEC §4). Each checks its required properties, then tracks.

  /** `user_signed_up` — @example await vf.users.signedUp("u1", { plan: "free", source: "google" }); */
  signedUp(userId: string, properties: SignedUpProperties = {}, options?: TrackOptions): Promise<Accepted> {
    return this.events.track("user_signed_up", userId, properties, options);
  }

  /** `trial_started` — @example await vf.users.trialStarted("u1", { trialDays: 14 }); */
  trialStarted(userId: string, properties: TrialStartedProperties = {}, options?: TrackOptions): Promise<Accepted> {
    return this.events.track("trial_started", userId, properties, options);
  }

  /** `feature_used` (requires `feature`) — @example await vf.users.featureUsed("u1", { feature: "export", count: 3 }); */
  featureUsed(userId: string, properties: FeatureUsedProperties, options?: TrackOptions): Promise<Accepted> {
    return this.events.track("feature_used", userId, properties, options);
  }

  /** `onboarding_step` (requires `step`) — @example await vf.users.onboardingStep("u1", { step: "invite_team", completed: true }); */
  onboardingStep(userId: string, properties: OnboardingStepProperties, options?: TrackOptions): Promise<Accepted> {
    return this.events.track("onboarding_step", userId, properties, options);
  }

  /** `subscription_changed` (requires `to`; `mrr` in integer cents) — @example await vf.users.subscriptionChanged("u1", { from: "free", to: "pro", interval: "month", mrr: 4900 }); */
  subscriptionChanged(userId: string, properties: SubscriptionChangedProperties, options?: TrackOptions): Promise<Accepted> {
    return this.events.track("subscription_changed", userId, properties, options);
  }

  /** `subscription_cancelled` — @example await vf.users.subscriptionCancelled("u1", { reason: "too_expensive", effectiveAt: "2025-07-01T00:00:00Z" }); */
  subscriptionCancelled(
    userId: string,
    properties: SubscriptionCancelledProperties = {},
    options?: TrackOptions,
  ): Promise<Accepted> {
    return this.events.track("subscription_cancelled", userId, properties, options);
  }

  /** `payment_failed` — @example await vf.users.paymentFailed("u1", { reason: "card_declined" }); */
  paymentFailed(userId: string, properties: PaymentFailedProperties = {}, options?: TrackOptions): Promise<Accepted> {
    return this.events.track("payment_failed", userId, properties, options);
  }

  /** `trial_expiring` (requires `daysLeft`) — @example await vf.users.trialExpiring("u1", { daysLeft: 3 }); */
  trialExpiring(userId: string, properties: TrialExpiringProperties, options?: TrackOptions): Promise<Accepted> {
    return this.events.track("trial_expiring", userId, properties, options);
  }

  /** `user_invited` (requires `invitedEmail`) — @example await vf.users.userInvited("u1", { invitedEmail: "bob@example.com" }); */
  userInvited(userId: string, properties: UserInvitedProperties, options?: TrackOptions): Promise<Accepted> {
    return this.events.track("user_invited", userId, properties, options);
  }
}

// The API takes email at the top level (it is PII with its own column); the rest stays in traits.
// `email: null` is a trait removal, so it stays in traits for the server to apply.
function toWire(userId: string, traits: Traits) {
  const { email, ...rest } = traits;
  if (typeof email === "string") return { external_user_id: userId, email, traits: rest };
  return { external_user_id: userId, traits };
}
