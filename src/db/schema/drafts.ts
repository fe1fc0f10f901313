import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Draft states (SPEC §8), shared by code and table. */
export const DRAFT_STATES = ["pending_review", "scheduled", "sending", "sent", "failed", "rejected", "expired", "cancelled"] as const;
export type DraftState = (typeof DRAFT_STATES)[number];

/**
 * Message states: `queued` (waiting for its attempt), `sending` (SMTP call in flight, final dot not yet sent),
 * `delivering` (committed just before the final dot of DATA; awaiting the reply), `sent`, `failed`.
 */
export const MESSAGE_STATES = ["queued", "sending", "delivering", "sent", "failed"] as const;
export type MessageState = (typeof MESSAGE_STATES)[number];

/** One email a rule match produced (SPEC §8). One per (project, rule, user, occasion): re-runs add nothing. */
export const drafts = sqliteTable(
  "drafts",
  {
    id: text("id").primaryKey(), // drf_…
    projectId: text("project_id").notNull(),
    ruleId: text("rule_id").notNull(),
    ruleKind: text("rule_kind").notNull(),
    userId: integer("user_id").notNull(),
    occasion: text("occasion").notNull(),
    eventId: integer("event_id"),
    state: text("state", { enum: DRAFT_STATES }).notNull(),
    subject: text("subject").notNull(),
    textBody: text("text_body").notNull(),
    htmlBody: text("html_body").notNull(),
    /** How the content was made: `template` or `llm`. */
    source: text("source", { enum: ["template", "llm"] }).notNull(),
    /** The `[drafting]` step: `pending` (not visible to the scheduler yet), `done`, `failed` (template kept), null (off). */
    drafting: text("drafting", { enum: ["pending", "done", "failed"] }),
    autopilot: integer("autopilot", { mode: "boolean" }).notNull(),
    /** The zone the send window was applied in (the user's or the project's). */
    timeZone: text("time_zone").notNull(),
    createdAt: integer("created_at").notNull(),
    /** Review deadline: unapproved drafts expire here; scheduled ones go out here. */
    deadline: integer("deadline").notNull(),
    /** When the scheduler next considers sending (deadline, or later after a cap / throttle / approval). */
    sendAt: integer("send_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    /** Why it was cancelled / failed / rejected. */
    reason: text("reason"),
    editedAt: integer("edited_at"),
    /** The real (non-test) message made from this draft. */
    messageId: text("message_id"),
    /** JSON array of the PII the text was rendered from (the user's email, name and name-like traits, the
     * triggering event's), so a viewer's dashboard masks it even after the user's details change (null: drafts made
     * before it was recorded). */
    piiTerms: text("pii_terms"),
  },
  (t) => [
    uniqueIndex("drafts_occasion").on(t.projectId, t.ruleId, t.userId, t.occasion),
    index("drafts_state_send_at").on(t.state, t.sendAt),
    index("drafts_state_deadline").on(t.state, t.deadline),
    index("drafts_project_state").on(t.projectId, t.state, t.deadline),
    index("drafts_user").on(t.userId),
    index("drafts_drafting").on(t.drafting, t.createdAt),
  ],
);

/** Every state change of a draft, with time and actor (`system`, `autopilot`, `cli`, `dashboard:<name>`…). */
export const draftHistory = sqliteTable(
  "draft_history",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    draftId: text("draft_id").notNull(),
    fromState: text("from_state"),
    toState: text("to_state").notNull(),
    actor: text("actor").notNull(),
    note: text("note"),
    at: integer("at").notNull(),
  },
  (t) => [index("draft_history_draft").on(t.draftId, t.at)],
);

/**
 * Emails handed to a transport (SPEC §9): the rendered .eml is stored, so a retry sends the same bytes with the
 * same Message-ID, and the outbox can offer it for download. Frequency caps and throttles count these rows.
 */
export const messages = sqliteTable(
  "messages",
  {
    id: text("id").primaryKey(), // msg_…
    projectId: text("project_id").notNull(),
    draftId: text("draft_id"),
    ruleId: text("rule_id"),
    userId: integer("user_id"),
    toAddress: text("to_address").notNull(),
    fromAddress: text("from_address").notNull(),
    subject: text("subject").notNull(),
    /** The Message-ID header, stable across retries so a re-send is identifiable. */
    smtpMessageId: text("smtp_message_id").notNull(),
    eml: text("eml").notNull(),
    transport: text("transport", { enum: ["smtp", "outbox"] }).notNull(),
    state: text("state", { enum: MESSAGE_STATES }).notNull(),
    isTest: integer("is_test", { mode: "boolean" }).notNull().default(false),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at").notNull(),
    error: text("error"),
    smtpResponse: text("smtp_response"),
    /** JSON array of the URLs in the message: click tracking redirects only to these. */
    links: text("links").notNull().default("[]"),
    openCount: integer("open_count").notNull().default(0),
    openedAt: integer("opened_at"),
    clickCount: integer("click_count").notNull().default(0),
    clickedAt: integer("clicked_at"),
    createdAt: integer("created_at").notNull(),
    sentAt: integer("sent_at"),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    index("messages_state_next").on(t.state, t.nextAttemptAt),
    index("messages_user_created").on(t.projectId, t.userId, t.createdAt),
    index("messages_rule_created").on(t.projectId, t.ruleId, t.createdAt),
    index("messages_draft").on(t.draftId),
  ],
);
