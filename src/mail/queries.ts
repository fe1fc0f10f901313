import type { InValue, Row } from "@libsql/client";
import type { Database } from "../db/client";
import type { MessageState } from "../db/schema/drafts";

/** A message as the dashboard shows it (without the .eml, fetched on its own by `getMessageEml`). */
export type MessageView = {
  id: string;
  projectId: string;
  draftId: string | null;
  ruleId: string | null;
  userId: number | null;
  to: string;
  from: string;
  subject: string;
  smtpMessageId: string;
  transport: "smtp" | "outbox";
  state: MessageState;
  isTest: boolean;
  attempts: number;
  nextAttemptAt: number;
  error: string | null;
  smtpResponse: string | null;
  openCount: number;
  clickCount: number;
  createdAt: number;
  sentAt: number | null;
};

const COLUMNS = `id, project_id, draft_id, rule_id, user_id, to_address, from_address, subject, smtp_message_id, transport, state,
  is_test, attempts, next_attempt_at, error, smtp_response, open_count, click_count, created_at, sent_at`;

function toView(r: Row): MessageView {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const s = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    id: String(r.id),
    projectId: String(r.project_id),
    draftId: s(r.draft_id),
    ruleId: s(r.rule_id),
    userId: n(r.user_id),
    to: String(r.to_address),
    from: String(r.from_address),
    subject: String(r.subject),
    smtpMessageId: String(r.smtp_message_id),
    transport: String(r.transport) as MessageView["transport"],
    state: String(r.state) as MessageState,
    isTest: Boolean(Number(r.is_test)),
    attempts: Number(r.attempts),
    nextAttemptAt: Number(r.next_attempt_at),
    error: s(r.error),
    smtpResponse: s(r.smtp_response),
    openCount: Number(r.open_count),
    clickCount: Number(r.click_count),
    createdAt: Number(r.created_at),
    sentAt: n(r.sent_at),
  };
}

export type MessageFilter = { projectId?: string; userId?: number; draftId?: string; state?: MessageState; transport?: "smtp" | "outbox"; limit?: number; offset?: number };

/** Messages, newest first (the messages page and the outbox). */
export async function listMessages(database: Database, filter: MessageFilter = {}): Promise<MessageView[]> {
  const where: string[] = [];
  const args: InValue[] = [];
  const add = (sql: string, v: InValue | undefined) => v !== undefined && (where.push(sql), args.push(v));
  add("project_id = ?", filter.projectId);
  add("user_id = ?", filter.userId);
  add("draft_id = ?", filter.draftId);
  add("state = ?", filter.state);
  add("transport = ?", filter.transport);
  const sql = `SELECT ${COLUMNS} FROM messages${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`;
  return (await database.read({ sql, args: [...args, filter.limit ?? 100, filter.offset ?? 0] })).rows.map(toView);
}

/** The stored RFC 5322 message, for "download .eml"; undefined when there is no such message. */
export async function getMessageEml(database: Database, id: string): Promise<string | undefined> {
  const row = (await database.read({ sql: "SELECT eml FROM messages WHERE id = ?", args: [id] })).rows[0];
  return row ? String(row.eml) : undefined;
}

/** Counts by state (and tests apart), for the overview and metrics. */
export async function countMessagesByState(database: Database, projectId?: string): Promise<Record<string, number>> {
  const rows = (
    await database.read({
      sql: `SELECT state, count(*) AS n FROM messages WHERE is_test = 0${projectId ? " AND project_id = ?" : ""} GROUP BY state`,
      args: projectId ? [projectId] : [],
    })
  ).rows;
  return Object.fromEntries(rows.map((r) => [String(r.state), Number(r.n)]));
}
