import { compileFilter } from "../../src/audiences/compile";
import { parseFilter, type FilterIssue } from "../../src/audiences/parse-filter";
import { parseConfigText } from "../../src/config/load";
import type { ProjectConfig } from "../../src/config/schema";
import { openDatabase, type Database } from "../../src/db/client";
import { migrate } from "../../src/db/migrate";
import { afterAll, beforeAll, expect } from "bun:test";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { startTestServer, tempDir, type TestServer } from "../support/harness";

export const T0 = Date.parse("2026-03-02T12:00:00Z");
export { DAY } from "../../src/lib/durations";

/** A migrated database file in a temp dir. */
export async function openTestDb(): Promise<{ database: Database; close(): void }> {
  const { dir, cleanup } = tempDir("vf-aud-");
  const database = await openDatabase({ url: `file:${dir}/vf.db`, synchronous: "normal", busy_timeout: 5000 });
  await migrate(database);
  return {
    database,
    close() {
      database.close();
      cleanup();
    },
  };
}

export type UserRow = {
  external: string;
  email?: string | null;
  name?: string | null;
  plan?: string | null;
  stage?: string | null;
  interval?: string | null;
  mrr?: number | null;
  company?: string | null;
  role?: string | null;
  signup_date?: number | null;
  first_seen_at?: number | null;
  last_seen_at?: number | null;
  traits?: Record<string, unknown>;
};

const USER_COLUMNS = ["email", "name", "plan", "stage", "interval", "mrr", "company", "role", "signup_date", "first_seen_at", "last_seen_at"] as const;

/** Inserts a user row directly (the normaliser's output shape); returns its id. */
export async function insertUser(database: Database, project: string, u: UserRow): Promise<number> {
  const rs = await database.execute({
    sql: `INSERT INTO tracked_users (project_id, external_user_id, ${USER_COLUMNS.map((c) => `"${c}"`).join(", ")}, traits, created_at, updated_at)
          VALUES (?, ?, ${USER_COLUMNS.map(() => "?").join(", ")}, ?, ?, ?) RETURNING id`,
    args: [project, u.external, ...USER_COLUMNS.map((c) => u[c] ?? null), JSON.stringify(u.traits ?? {}), T0, T0],
  });
  return Number(rs.rows[0]!.id);
}

export async function updateUser(database: Database, id: number, set: Partial<Omit<UserRow, "external" | "traits">>): Promise<void> {
  const keys = Object.keys(set);
  await database.execute({ sql: `UPDATE tracked_users SET ${keys.map((k) => `"${k}" = ?`).join(", ")} WHERE id = ?`, args: [...keys.map((k) => (set as any)[k] ?? null), id] });
}

export async function insertEvent(database: Database, project: string, userId: number, name: string, occurredAt: number, properties: Record<string, unknown> = {}): Promise<void> {
  await database.execute({
    sql: "INSERT INTO events (project_id, user_id, name, occurred_at, received_at, payload, properties) VALUES (?, ?, ?, ?, ?, '{}', ?)",
    args: [project, userId, name, occurredAt, occurredAt, JSON.stringify(properties)],
  });
}

/** External ids of the users of `project` matching `raw` (parsed and compiled like any audience filter). */
export async function matching(database: Database, project: string, raw: unknown, at = T0): Promise<string[]> {
  const issues: FilterIssue[] = [];
  const filter = parseFilter(raw, issues);
  if (!filter) throw new Error(`bad filter ${JSON.stringify(raw)}: ${JSON.stringify(issues)}`);
  const { sql, args } = compileFilter(filter, at);
  const rs = await database.read({
    sql: `SELECT external_user_id FROM tracked_users u WHERE u.project_id = ? AND ${sql} ORDER BY external_user_id`,
    args: [project, ...args],
  });
  return rs.rows.map((r) => String(r.external_user_id));
}

/** A project config parsed from TOML, as the server would load it. */
export function projectFrom(toml: string): ProjectConfig {
  return parseConfigText(toml).projects[0]!;
}

export async function members(database: Database, project: string, audience: string): Promise<string[]> {
  const rs = await database.read({
    sql: `SELECT u.external_user_id AS x FROM audience_members am JOIN tracked_users u ON u.id = am.user_id
          WHERE am.project_id = ? AND am.audience_id = ? ORDER BY x`,
    args: [project, audience],
  });
  return rs.rows.map((r) => String(r.x));
}

/**
 * A real server for a test file (background loops off: the test drives the normaliser and evaluator) under a
 * manual clock starting at `at`: started before the file's tests, closed after. `post` expects a 202.
 */
export function serverUnderClock(config: string, at: number) {
  const clock = manualClock(at);
  const site = {
    clock,
    server: undefined as unknown as TestServer,
    post: async (path: string, body: unknown) => expect((await site.server.api(path, { body })).status).toBe(202),
  };
  beforeAll(async () => {
    setClock(clock);
    site.server = await startTestServer(config, { background: false });
  });
  afterAll(async () => {
    await site.server.close();
    setClock(systemClock);
  });
  return site;
}
