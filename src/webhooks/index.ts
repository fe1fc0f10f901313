/**
 * Outbound webhooks (SPEC §10): events are written as deliveries in their cause's transaction, and a delivery
 * loop POSTs them, signed, with retries and dead letters. See docs/webhooks.md.
 */
export { enqueueWebhook, enqueueWebhooks, setWebhookEndpoints, type WebhookEvent } from "./enqueue";
export { webhookHooks } from "./hooks";
export { countDeliveries, listDeliveries, purgeDelivered, redeliver, type DeliveryView } from "./queries";
export { deliverDue, webhookService, type AttemptOutcome, type WebhookEnv } from "./service";
export { signBody } from "./sign";
export { DEFAULT_TIMEOUT_MS, DELIVERED_KEEP_MS, MAX_ATTEMPTS, RETRY_DELAYS_MS, WEBHOOK_EVENT_TYPES, type WebhookEventType } from "./types";
export { DELIVERY_STATES, type DeliveryState } from "../db/schema/webhooks";
