import type { Transaction } from "../db/client";
import { log } from "../lib/log";
import type { Executor } from "./tokens";

/**
 * What drafts and sending tell the rest of the system (the outbound webhooks of SPEC §10), without importing
 * it: one hook, wired in src/hooks.ts, called inside the transaction that makes the change — so an event is
 * recorded exactly when its change commits. The hook runs in a savepoint: if it throws, its writes are undone,
 * it is logged, and the email side carries on.
 */
export type MailEventType = "draft.created" | "email.sent" | "email.bounced" | "email.unsubscribed" | "email.opened" | "email.clicked";

export type MailEvent = { type: MailEventType; projectId: string; at: number; data: Record<string, unknown> };

export type OnMailEvent = (tx: Transaction, event: MailEvent) => Promise<void> | void;

let hook: OnMailEvent | undefined;

/** Registers (or, with undefined, clears) the hook. */
export function setOnMailEvent(fn: OnMailEvent | undefined): void {
  hook = fn;
}

export async function emitMailEvent(tx: Executor, event: MailEvent): Promise<void> {
  if (!hook) return;
  await tx.execute("SAVEPOINT mail_event");
  try {
    await hook(tx as Transaction, event);
    await tx.execute("RELEASE mail_event");
  } catch (error) {
    await tx.execute("ROLLBACK TO mail_event");
    await tx.execute("RELEASE mail_event");
    log.error("mail event hook failed", { type: event.type, error });
  }
}

/** The user fields every event carries. */
export async function userFields(tx: Executor, userId: number | null): Promise<Record<string, unknown>> {
  if (userId === null) return {};
  const row = (await tx.execute({ sql: "SELECT external_user_id, email FROM tracked_users WHERE id = ?", args: [userId] })).rows[0];
  return row ? { external_user_id: String(row.external_user_id), email: row.email === null ? null : String(row.email) } : {};
}
