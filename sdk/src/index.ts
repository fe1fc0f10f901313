export { VibeFollow, type VibeFollowOptions } from "./client.js";
// `import VibeFollow from "@vibefollow/sdk"` works too.
export { VibeFollow as default } from "./client.js";
export { Users, type Traits, type BulkUser } from "./users.js";
export { Events, type TrackArgs, type TrackOptions, type BulkEvent } from "./events.js";
export { EventBatcher, BATCH_LIMIT, type BatchOptions, type FlushResult } from "./batcher.js";
export {
  Webhooks,
  constructWebhookEvent,
  signWebhookPayload,
  type WebhookEvent,
  type WebhookEventType,
  type ConstructEventOptions,
} from "./webhooks.js";
export { chunk } from "./chunk.js";
export {
  STANDARD_EVENT_NAMES,
  type StandardEventName,
  type StandardEventProperties,
  type PropertiesFor,
  type SignedUpProperties,
  type TrialStartedProperties,
  type FeatureUsedProperties,
  type OnboardingStepProperties,
  type SubscriptionChangedProperties,
  type SubscriptionCancelledProperties,
  type PaymentFailedProperties,
  type TrialExpiringProperties,
  type UserInvitedProperties,
} from "./standard-events.js";
export {
  VibeFollowError,
  AuthError,
  ValidationError,
  RateLimitError,
  ServerError,
  NetworkError,
  WebhookSignatureError,
  type ApiErrorDetail,
} from "./errors.js";
export type { Accepted, BulkResult, BulkRecordError } from "./results.js";
export type { EventPayload, Properties } from "./validate.js";
export type { FetchLike } from "./http.js";
export { SDK_VERSION } from "./version.js";
