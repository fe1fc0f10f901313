import type { InStatement, ResultSet } from "@libsql/client";

/** The event types an endpoint may subscribe to (SPEC §10), in the order the config documents them. */
export const WEBHOOK_EVENT_TYPES = [
  "email.sent",
  "email.opened",
  "email.clicked",
  "email.bounced",
  "email.unsubscribed",
  "draft.created",
  "quarantine.added",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Wait before retry n (after the n-th failed attempt), SPEC §10: 30 s, 2 m, 10 m, 30 m, 2 h, 6 h, 12 h. */
export const RETRY_DELAYS_MS = [30_000, 120_000, 600_000, 1_800_000, 7_200_000, 21_600_000, 43_200_000] as const;

/** The first attempt plus one per retry; a delivery whose last attempt fails is dead-lettered. */
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

/** A 2xx within this long is success (SPEC §10). */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** How long delivered rows are kept (as history for the dashboard) before the loop deletes them: 30 days. */
export const DELIVERED_KEEP_MS = 30 * 86_400_000;

/** Anything that runs a statement: a transaction (the cause's) or the database. */
export type Executor = { execute(statement: InStatement): Promise<ResultSet> };
