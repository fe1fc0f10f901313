import type { ProjectConfig } from "../config/schema";
import { eitherSpelling } from "../lib/either-spelling";
import { KNOWN_TRAITS } from "../pipeline/normalise";
import { publicBase, unsubscribeToken, type Executor } from "../mail/tokens";
import type { DraftRule } from "./types";

/** A user row as drafts and sending need it. */
export type UserRow = {
  id: number;
  projectId: string;
  externalUserId: string;
  email: string | null;
  name: string | null;
  traits: Record<string, unknown>;
  suppressed: boolean;
  paused: boolean;
  columns: Record<string, unknown>;
};

const ISO_COLUMNS = new Set(["signup_date", "first_seen_at", "last_seen_at", "trial_ends_at", "stage_changed_at"]);

const USER_COLUMNS = `id, project_id, external_user_id, email, name, plan, signup_date, company, role, traits, first_seen_at,
  last_seen_at, stage, stage_changed_at, interval, mrr, trial_ends_at, suppressed, paused`;

export async function loadUser(exec: Executor, userId: number): Promise<UserRow | undefined> {
  return (await loadUsers(exec, [userId])).get(userId);
}

/** Users by id, in chunks (a first run hands over thousands of matches at once). */
export async function loadUsers(exec: Executor, userIds: readonly number[]): Promise<Map<number, UserRow>> {
  const out = new Map<number, UserRow>();
  const ids = [...new Set(userIds)];
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const rows = (await exec.execute({ sql: `SELECT ${USER_COLUMNS} FROM tracked_users WHERE id IN (${chunk.map(() => "?").join(",")})`, args: chunk })).rows;
    for (const r of rows) out.set(Number(r.id), toUserRow(r));
  }
  return out;
}

function toUserRow(r: Record<string, unknown>): UserRow {
  const columns: Record<string, unknown> = {};
  for (const key of ["external_user_id", "email", "name", "plan", "signup_date", "company", "role", "first_seen_at", "last_seen_at", "stage", "stage_changed_at", "interval", "mrr", "trial_ends_at"]) {
    const v = r[key];
    columns[key] = v === null || v === undefined ? null : ISO_COLUMNS.has(key) ? new Date(Number(v)).toISOString() : typeof v === "bigint" ? Number(v) : v;
  }
  return {
    id: Number(r.id),
    projectId: String(r.project_id),
    externalUserId: String(r.external_user_id),
    email: r.email === null ? null : String(r.email),
    name: r.name === null ? null : String(r.name),
    traits: parseObject(r.traits),
    suppressed: Boolean(Number(r.suppressed)),
    paused: Boolean(Number(r.paused)),
    columns,
  };
}

export async function loadEvent(exec: Executor, eventId: number | null | undefined): Promise<Record<string, unknown> | null> {
  if (eventId === null || eventId === undefined) return null;
  return (await loadEvents(exec, [eventId])).get(eventId) ?? null;
}

/** Triggering events by id, shaped for templates: `event.name`, `event.occurred_at`, `event.properties.*`. */
export async function loadEvents(exec: Executor, eventIds: readonly number[]): Promise<Map<number, Record<string, unknown>>> {
  const out = new Map<number, Record<string, unknown>>();
  const ids = [...new Set(eventIds)];
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const rows = (await exec.execute({ sql: `SELECT id, name, occurred_at, properties FROM events WHERE id IN (${chunk.map(() => "?").join(",")})`, args: chunk })).rows;
    for (const r of rows) {
      const properties = parseObject(r.properties);
      out.set(Number(r.id), { ...properties, name: String(r.name), occurred_at: new Date(Number(r.occurred_at)).toISOString(), properties });
    }
  }
  return out;
}

function parseObject(v: unknown): Record<string, unknown> {
  if (typeof v !== "string") return {};
  try {
    const parsed = JSON.parse(v);
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** "Jane at Acme <jane@acme.io>" → "Jane at Acme"; used to sign default templates. */
export function senderName(project: ProjectConfig): string {
  const from = project.sender.from ?? project.smtp?.from;
  const m = from ? /^\s*"?([^"<]+?)"?\s*</.exec(from) : null;
  return m ? m[1]! : `The ${project.name} team`;
}

export type TemplateInput = {
  user: UserRow;
  event: Record<string, unknown> | null;
  project: ProjectConfig;
  rule: DraftRule;
  occasion: string;
  secret: string;
  config: { server: { listen: string; public_url?: string } };
  test?: boolean;
};

/**
 * The Liquid context of SPEC §8: `user` (columns + traits), `event`, `project`, `rule`, `unsubscribe_url`. Keys read
 * in any spelling (SPEC §3: `user.teamSize` ≡ `user.team_size`, nested objects too), see `eitherSpelling`.
 */
export function buildTemplateContext(input: TemplateInput): Record<string, unknown> {
  const { user, project, rule } = input;
  const traits = user.traits;
  const name = user.name ?? (typeof traits.name === "string" ? traits.name : null);
  const firstName = typeof traits.first_name === "string" ? traits.first_name : name ? name.trim().split(/\s+/)[0] : null;
  const token = unsubscribeToken(input.secret, { projectId: project.id, userId: user.id, test: input.test ?? false });
  // Known traits are sent inside `traits` but kept in their own columns (SPEC §2): `user.traits.name` reads them back
  // where the identify put them. Not the address: it is `user.email`, and the model must not see it (llm.ts).
  const sent: Record<string, unknown> = { ...traits };
  for (const key of KNOWN_TRAITS) if (key !== "email" && user.columns[key] != null) sent[key] = user.columns[key];
  return {
    user: eitherSpelling({ ...traits, ...user.columns, id: user.externalUserId, first_name: firstName, traits: sent }),
    event: eitherSpelling(input.event),
    project: eitherSpelling({ id: project.id, name: project.name, timezone: project.timezone, signature: senderName(project) }),
    rule: eitherSpelling({ ...(rule as unknown as Record<string, unknown>), occasion: input.occasion }),
    unsubscribe_url: `${publicBase(input.config)}/u/${token}`,
  };
}
