import type { Row } from "@libsql/client";
import type { Database } from "../db/client";
import { now } from "../lib/clock";
import { parseTerms } from "../drafts/queries";
import type { Person } from "./mask";

/** Dashboard reads that no other capability exports. All on the read connection: never behind the writer. */

export async function eventCounts(database: Database, projectId: string): Promise<{ lastMinute: number; lastHour: number }> {
  const t = now();
  const rs = await database.read({
    sql: `SELECT count(*) FILTER (WHERE received_at >= ?) AS minute, count(*) AS hour
          FROM events WHERE received_at >= ? AND project_id = ?`,
    args: [t - 60_000, t - 3_600_000, projectId],
  });
  return { lastMinute: Number(rs.rows[0]!.minute ?? 0), lastHour: Number(rs.rows[0]!.hour ?? 0) };
}

/** Real (non-test) messages sent in the last 24 h, and failures in the same window. */
export async function sendCounts(database: Database, projectId: string): Promise<{ sent: number; failed: number }> {
  const since = now() - 86_400_000;
  const rs = await database.read({
    sql: `SELECT count(*) FILTER (WHERE state = 'sent' AND sent_at >= ?) AS sent,
                 count(*) FILTER (WHERE state = 'failed' AND updated_at >= ?) AS failed
          FROM messages WHERE project_id = ? AND is_test = 0 AND (sent_at >= ? OR updated_at >= ?)`,
    args: [since, since, projectId, since, since],
  });
  return { sent: Number(rs.rows[0]!.sent ?? 0), failed: Number(rs.rows[0]!.failed ?? 0) };
}

export type UserRow = {
  id: number;
  externalUserId: string;
  email: string | null;
  name: string | null;
  plan: string | null;
  company: string | null;
  role: string | null;
  stage: string | null;
  traits: string;
  firstSeenAt: number | null;
  lastSeenAt: number | null;
  signupDate: number | null;
  interval: string | null;
  mrr: number | null;
  trialEndsAt: number | null;
  suppressed: boolean;
  suppressedReason: string | null;
  paused: boolean;
  eventCount: number;
};

const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const s = (v: unknown) => (v === null || v === undefined ? null : String(v));

function toUser(r: Row): UserRow {
  return {
    id: Number(r.id),
    externalUserId: String(r.external_user_id),
    email: s(r.email),
    name: s(r.name),
    plan: s(r.plan),
    company: s(r.company),
    role: s(r.role),
    stage: s(r.stage),
    traits: String(r.traits ?? "{}"),
    firstSeenAt: n(r.first_seen_at),
    lastSeenAt: n(r.last_seen_at),
    signupDate: n(r.signup_date),
    interval: s(r.interval),
    mrr: n(r.mrr),
    trialEndsAt: n(r.trial_ends_at),
    suppressed: Boolean(Number(r.suppressed)),
    suppressedReason: s(r.suppressed_reason),
    paused: Boolean(Number(r.paused)),
    eventCount: Number(r.event_count ?? 0),
  };
}

/**
 * Users matching `q`: a substring of the external id (`42` finds `u_42`; the exact id first), and — when `pii` is
 * allowed (admins) — a substring of email or name. Viewers cannot search by email or name: with masked results,
 * such a search would still let them confirm an address letter by letter. (LIKE is case-insensitive, so no index
 * serves even a prefix: every search reads the project's users, substring or not.)
 */
export async function searchUsers(database: Database, projectId: string, q: string, pii: boolean, limit = 50, offset = 0): Promise<UserRow[]> {
  const like = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const where = pii
    ? "(external_user_id LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\')"
    : "external_user_id LIKE ? ESCAPE '\\'";
  const args = pii ? [like, like, like] : [like];
  const rs = await database.read({
    sql: `SELECT * FROM tracked_users WHERE project_id = ? ${q ? `AND ${where}` : ""}
          ORDER BY ${q ? "external_user_id = ? DESC, " : ""}last_seen_at DESC NULLS LAST, id DESC LIMIT ? OFFSET ?`,
    args: [projectId, ...(q ? [...args, q] : []), limit, offset],
  });
  return rs.rows.map(toUser);
}

export async function getUser(database: Database, projectId: string, externalUserId: string): Promise<UserRow | undefined> {
  const rs = await database.read({ sql: "SELECT * FROM tracked_users WHERE project_id = ? AND external_user_id = ?", args: [projectId, externalUserId] });
  return rs.rows[0] ? toUser(rs.rows[0]) : undefined;
}

export type EventRow = { id: number; name: string; occurredAt: number; receivedAt: number; properties: string };

export async function userEvents(database: Database, userId: number, limit = 100): Promise<EventRow[]> {
  const rs = await database.read({
    sql: "SELECT id, name, occurred_at, received_at, properties FROM events WHERE user_id = ? ORDER BY occurred_at DESC, id DESC LIMIT ?",
    args: [userId, limit],
  });
  return rs.rows.map((r) => ({ id: Number(r.id), name: String(r.name), occurredAt: Number(r.occurred_at), receivedAt: Number(r.received_at), properties: String(r.properties) }));
}

export type MessageRow = {
  id: string;
  draftId: string | null;
  ruleId: string | null;
  toAddress: string;
  subject: string;
  transport: string;
  state: string;
  isTest: boolean;
  attempts: number;
  error: string | null;
  createdAt: number;
  sentAt: number | null;
  /** The recipient user, for masking a viewer's view of the subject. */
  user: Person;
};

export async function listMessages(
  database: Database,
  filter: { projectId: string; userId?: number; transport?: string; limit?: number; offset?: number },
): Promise<MessageRow[]> {
  const where = ["m.project_id = ?"];
  const args: (string | number)[] = [filter.projectId];
  if (filter.userId !== undefined) (where.push("m.user_id = ?"), args.push(filter.userId));
  if (filter.transport) (where.push("m.transport = ?"), args.push(filter.transport));
  const rs = await database.read({
    sql: `SELECT m.id, m.draft_id, m.rule_id, m.to_address, m.subject, m.transport, m.state, m.is_test, m.attempts, m.error,
                 m.created_at, m.sent_at, u.name AS user_name, u.email AS user_email, u.traits AS user_traits, d.pii_terms
          FROM messages m LEFT JOIN tracked_users u ON u.id = m.user_id LEFT JOIN drafts d ON d.id = m.draft_id
          WHERE ${where.join(" AND ")} ORDER BY m.created_at DESC, m.id DESC LIMIT ? OFFSET ?`,
    args: [...args, filter.limit ?? 100, filter.offset ?? 0],
  });
  return rs.rows.map((r) => ({
    id: String(r.id),
    draftId: s(r.draft_id),
    ruleId: s(r.rule_id),
    toAddress: String(r.to_address),
    subject: String(r.subject),
    transport: String(r.transport),
    state: String(r.state),
    isTest: Boolean(Number(r.is_test)),
    attempts: Number(r.attempts),
    error: s(r.error),
    createdAt: Number(r.created_at),
    sentAt: n(r.sent_at),
    user: { email: s(r.user_email), name: s(r.user_name), traits: s(r.user_traits), terms: parseTerms(r.pii_terms) },
  }));
}

export async function messageEml(database: Database, projectId: string, id: string): Promise<string | undefined> {
  const rs = await database.read({ sql: "SELECT eml FROM messages WHERE id = ? AND project_id = ?", args: [id, projectId] });
  return rs.rows[0] ? String(rs.rows[0].eml) : undefined;
}

/** The people behind drafts (email, name, traits), so a viewer's list can mask them inside subjects. */
export async function peopleOf(database: Database, userIds: readonly number[]): Promise<Map<number, Person>> {
  const ids = [...new Set(userIds)].slice(0, 1000);
  if (ids.length === 0) return new Map();
  const rs = await database.read({ sql: `SELECT id, email, name, traits FROM tracked_users WHERE id IN (${ids.map(() => "?").join(",")})`, args: ids });
  return new Map(rs.rows.map((r) => [Number(r.id), { email: s(r.email), name: s(r.name), traits: s(r.traits) }]));
}

export async function personOf(database: Database, userId: number): Promise<Person> {
  return (await peopleOf(database, [userId])).get(userId) ?? { email: null, name: null };
}

/** The dashboard's autopilot switch for a project: null follows the config. */
export async function readAutopilotOverride(database: Database, projectId: string): Promise<boolean | null> {
  const rs = await database.read({ sql: "SELECT autopilot_override FROM projects WHERE id = ?", args: [projectId] });
  const v = rs.rows[0]?.autopilot_override;
  return v === null || v === undefined ? null : Boolean(Number(v));
}
