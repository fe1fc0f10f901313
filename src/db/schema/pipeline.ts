
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const STAGES = ["signed_up", "trialing", "active", "past_due", "cancelled", "churned"] as const;
export type Stage = (typeof STAGES)[number];

/** Users (SPEC §2): known traits in columns, the rest in `traits`; derived state beside them. */
export const trackedUsers = sqliteTable(
  "tracked_users",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    projectId: text("project_id").notNull(),
    externalUserId: text("external_user_id").notNull(),
    email: text("email"),
    name: text("name"),
    plan: text("plan"),
    signupDate: integer("signup_date"),
    company: text("company"),
    role: text("role"),
    traits: text("traits").notNull().default("{}"),
    firstSeenAt: integer("first_seen_at"),
    lastSeenAt: integer("last_seen_at"),
    stage: text("stage", { enum: STAGES }),
    stageChangedAt: integer("stage_changed_at"),
    interval: text("interval"),
    mrr: integer("mrr"),
    trialEndsAt: integer("trial_ends_at"),
    /** occurred_at of the trial event that set trial_ends_at: an older one arriving late does not overwrite it. */
    trialChangedAt: integer("trial_changed_at"),
    /** occurred_at of the subscription_changed that set plan/interval/mrr (same out-of-order guard). */
    billingChangedAt: integer("billing_changed_at"),
    /** `cancelled` → `churned` once this has passed (effectiveAt or cancel time + churn_grace). */
    churnAt: integer("churn_at"),
    suppressed: integer("suppressed", { mode: "boolean" }).notNull().default(false),
    suppressedReason: text("suppressed_reason"),
    suppressedAt: integer("suppressed_at"),
    paused: integer("paused", { mode: "boolean" }).notNull().default(false),
    /** Created through a backfill (bulk with old timestamps, import): never gets a welcome. */
    backfilled: integer("backfilled", { mode: "boolean" }).notNull().default(false),
    eventCount: integer("event_count").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("tracked_users_external").on(t.projectId, t.externalUserId),
    index("tracked_users_stage").on(t.projectId, t.stage),
    index("tracked_users_last_seen").on(t.projectId, t.lastSeenAt),
    index("tracked_users_email").on(t.projectId, t.email),
  ],
);

/** Events (SPEC §2): never edited. `payload` is verbatim; `properties` is the snake_case form. */
export const events = sqliteTable(
  "events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    projectId: text("project_id").notNull(),
    userId: integer("user_id").notNull(),
    name: text("name").notNull(),
    occurredAt: integer("occurred_at").notNull(),
    receivedAt: integer("received_at").notNull(),
    payload: text("payload").notNull(),
    properties: text("properties").notNull().default("{}"),
  },
  (t) => [
    index("events_user_name_time").on(t.userId, t.name, t.occurredAt),
    index("events_project_name_time").on(t.projectId, t.name, t.occurredAt),
    index("events_received").on(t.receivedAt),
  ],
);

/** Events of users not identified yet (SPEC §5.2), in arrival order. */
export const eventBuffer = sqliteTable(
  "event_buffer",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    projectId: text("project_id").notNull(),
    externalUserId: text("external_user_id").notNull(),
    source: text("source").notNull(),
    payload: text("payload").notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  // event_buffer_expiry: the buffer_ttl sweep reads one project's expired rows, not every project's older ones.
  (t) => [index("event_buffer_user").on(t.projectId, t.externalUserId), index("event_buffer_expiry").on(t.projectId, t.receivedAt)],
);

/** Items the normaliser could not apply (SPEC §5.3). */
export const quarantine = sqliteTable(
  "quarantine",
  {
    id: text("id").primaryKey(), // qtn_…
    projectId: text("project_id").notNull(),
    reason: text("reason").notNull(),
    detail: text("detail").notNull(),
    kind: text("kind", { enum: ["identify", "track"] }).notNull(),
    source: text("source").notNull(),
    payload: text("payload").notNull(),
    /** Best-effort copies from the payload, for listing and search (null when the payload had none). */
    externalUserId: text("external_user_id"),
    eventName: text("event_name"),
    /** When the original request was received (the queue item's received_at). */
    receivedAt: integer("received_at").notNull().default(0),
    state: text("state", { enum: ["open", "replayed", "discarded"] }).notNull().default("open"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("quarantine_state").on(t.projectId, t.state, t.createdAt), index("quarantine_created").on(t.createdAt)],
);

/** Each stage change with its time (SPEC §5.5); rules read entries from here. */
export const stageHistory = sqliteTable(
  "stage_history",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    projectId: text("project_id").notNull(),
    userId: integer("user_id").notNull(),
    fromStage: text("from_stage"),
    toStage: text("to_stage").notNull(),
    at: integer("at").notNull(),
  },
  (t) => [index("stage_history_user").on(t.userId, t.at), index("stage_history_to").on(t.projectId, t.toStage, t.at)],
);

/** Per-feature usage counts (from `feature_used`). */
export const featureUsage = sqliteTable(
  "feature_usage",
  {
    userId: integer("user_id").notNull(),
    feature: text("feature").notNull(),
    projectId: text("project_id").notNull(),
    count: integer("count").notNull(),
    firstAt: integer("first_at").notNull(),
    lastAt: integer("last_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.feature] })],
);

/** Onboarding progress (from `onboarding_step`). */
export const onboardingSteps = sqliteTable(
  "onboarding_steps",
  {
    userId: integer("user_id").notNull(),
    step: text("step").notNull(),
    projectId: text("project_id").notNull(),
    completed: integer("completed", { mode: "boolean" }).notNull(),
    firstAt: integer("first_at").notNull(),
    lastAt: integer("last_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.step] })],
);

/** Addresses that must never be mailed again for a project (hard bounce, unsubscribe, manual). */
export const suppressions = sqliteTable(
  "suppressions",
  {
    projectId: text("project_id").notNull(),
    email: text("email").notNull(),
    reason: text("reason").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.email] })],
);

