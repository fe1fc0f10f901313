import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Delivery states (SPEC §10), shared by code and table: waiting for an attempt, done, or given up (re-sendable). */
export const DELIVERY_STATES = ["pending", "delivered", "dead"] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/**
 * One event for one endpoint (SPEC §10). The row is written in the transaction that causes the event, so an
 * event exists exactly when its cause committed; the delivery loop then POSTs `body` until a 2xx or dead-letter.
 * The endpoint's secret is never stored: it is looked up in the config at each attempt (rotation just works).
 */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(), // whd_…, also the body's `id`: the same across retries
    projectId: text("project_id").notNull(),
    endpointUrl: text("endpoint_url").notNull(),
    eventType: text("event_type").notNull(),
    /** The exact JSON text POSTed (and signed) on every attempt. */
    body: text("body").notNull(),
    state: text("state", { enum: DELIVERY_STATES }).notNull(),
    /** Attempts started (counted when claimed, so one cut short by a crash counts too). */
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at").notNull(),
    /** Set while an attempt is in flight; a claim older than the stale limit (a crash) is taken again. */
    claimedAt: integer("claimed_at"),
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
    lastAttemptAt: integer("last_attempt_at"),
    createdAt: integer("created_at").notNull(),
    deliveredAt: integer("delivered_at"),
  },
  (t) => [
    index("webhook_deliveries_due").on(t.state, t.nextAttemptAt),
    index("webhook_deliveries_project").on(t.projectId, t.state, t.createdAt),
  ],
);
