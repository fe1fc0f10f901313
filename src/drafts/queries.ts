import type { InValue, Row } from "@libsql/client";
import type { Database } from "../db/client";
import type { DraftState } from "../db/schema/drafts";
import type { Executor } from "../mail/tokens";

/** A draft as the dashboard and CLI show it (times in UTC ms). */
export type DraftView = {
  id: string;
  projectId: string;
  ruleId: string;
  ruleKind: string;
  userId: number;
  externalUserId: string | null;
  email: string | null;
  occasion: string;
  eventId: number | null;
  state: DraftState;
  subject: string;
  text: string;
  html: string;
  source: "template" | "llm";
  drafting: "pending" | "done" | "failed" | null;
  autopilot: boolean;
  timeZone: string;
  createdAt: number;
  deadline: number;
  sendAt: number;
  updatedAt: number;
  reason: string | null;
  editedAt: number | null;
  messageId: string | null;
  /** The PII the text was rendered from (drafts.pii_terms; null for drafts made before it was recorded). */
  piiTerms: string[] | null;
};

export type HistoryEntry = { from: DraftState | null; to: DraftState; actor: string; note: string | null; at: number };

const SELECT = `SELECT d.*, u.external_user_id, u.email FROM drafts d LEFT JOIN tracked_users u ON u.id = d.user_id`;

function num(v: unknown): number {
  return Number(v);
}

function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

export function toDraftView(r: Row): DraftView {
  return {
    id: String(r.id),
    projectId: String(r.project_id),
    ruleId: String(r.rule_id),
    ruleKind: String(r.rule_kind),
    userId: num(r.user_id),
    externalUserId: r.external_user_id === null || r.external_user_id === undefined ? null : String(r.external_user_id),
    email: r.email === null || r.email === undefined ? null : String(r.email),
    occasion: String(r.occasion),
    eventId: numOrNull(r.event_id),
    state: String(r.state) as DraftState,
    subject: String(r.subject),
    text: String(r.text_body),
    html: String(r.html_body),
    source: String(r.source) as DraftView["source"],
    drafting: (r.drafting ?? null) as DraftView["drafting"],
    autopilot: Boolean(Number(r.autopilot)),
    timeZone: String(r.time_zone),
    createdAt: num(r.created_at),
    deadline: num(r.deadline),
    sendAt: num(r.send_at),
    updatedAt: num(r.updated_at),
    reason: r.reason === null ? null : String(r.reason),
    editedAt: numOrNull(r.edited_at),
    messageId: r.message_id === null ? null : String(r.message_id),
    piiTerms: parseTerms(r.pii_terms),
  };
}

export type DraftFilter = { projectId?: string; state?: DraftState; userId?: number; limit?: number; offset?: number };

/** Drafts, soonest deadline first (the review queue order of SPEC §11). */
export async function listDrafts(database: Database, filter: DraftFilter = {}): Promise<DraftView[]> {
  const where: string[] = [];
  const args: InValue[] = [];
  if (filter.projectId) (where.push("d.project_id = ?"), args.push(filter.projectId));
  if (filter.state) (where.push("d.state = ?"), args.push(filter.state));
  if (filter.userId !== undefined) (where.push("d.user_id = ?"), args.push(filter.userId));
  const sql = `${SELECT}${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY d.deadline, d.id LIMIT ? OFFSET ?`;
  const rows = (await database.read({ sql, args: [...args, filter.limit ?? 200, filter.offset ?? 0] })).rows;
  return rows.map(toDraftView);
}

export async function getDraft(exec: Executor | Database, id: string): Promise<DraftView | undefined> {
  const run = "read" in exec ? (s: { sql: string; args: InValue[] }) => exec.read(s) : (s: { sql: string; args: InValue[] }) => exec.execute(s);
  const row = (await run({ sql: `${SELECT} WHERE d.id = ?`, args: [id] })).rows[0];
  return row ? toDraftView(row) : undefined;
}

export async function draftHistoryOf(database: Database, id: string): Promise<HistoryEntry[]> {
  const rows = (await database.read({ sql: "SELECT * FROM draft_history WHERE draft_id = ? ORDER BY id", args: [id] })).rows;
  return rows.map((r) => ({
    from: (r.from_state ?? null) as DraftState | null,
    to: String(r.to_state) as DraftState,
    actor: String(r.actor),
    note: r.note === null ? null : String(r.note),
    at: Number(r.at),
  }));
}

/** Counts by state for one project (or all), for the dashboard overview and metrics. */
export async function countDraftsByState(database: Database, projectId?: string): Promise<Record<string, number>> {
  const rows = (
    await database.read({
      sql: `SELECT state, count(*) AS n FROM drafts${projectId ? " WHERE project_id = ?" : ""} GROUP BY state`,
      args: projectId ? [projectId] : [],
    })
  ).rows;
  return Object.fromEntries(rows.map((r) => [String(r.state), Number(r.n)]));
}

/** drafts.pii_terms: a JSON array of strings. */
export function parseTerms(value: unknown): string[] | null {
  if (typeof value !== "string") return null;
  try {
    const terms: unknown = JSON.parse(value);
    return Array.isArray(terms) ? terms.filter((t): t is string => typeof t === "string") : null;
  } catch {
    return null;
  }
}
