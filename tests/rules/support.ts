import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { manualClock, now, setClock, systemClock } from "../../src/lib/clock";
import { DAY, HOUR, MINUTE } from "../../src/lib/durations";
import { runEvaluator, type Match, type RunResult } from "../../src/rules";
import { drainQueue } from "../../src/pipeline";
import { afterEachTest } from "../support/after-each";
import { startTestServer, type TestServer } from "../support/harness";

export { DAY, HOUR, MINUTE };
export const T0 = Date.parse("2026-03-02T08:00:00Z");

/**
 * A running server (real DB file, background loops off) plus helpers to feed it identify/track and to run the
 * evaluator by hand under a manual clock. Data goes in through the real ingest API and normaliser.
 */
export type World = {
  server: TestServer;
  clock: ReturnType<typeof manualClock>;
  identify(userId: string, body?: { email?: string | null; traits?: Record<string, unknown> }): Promise<void>;
  track(userId: string, name: string, properties?: Record<string, unknown>, timestamp?: number): Promise<void>;
  /** Applies everything queued (the normaliser, driven by hand). */
  settle(): Promise<void>;
  evaluate(opts?: { dryRun?: boolean }): Promise<RunResult & { matches: Match[] }>;
  /** Moves the clock and runs the evaluator; returns the new matches of `ruleId` (all rules when omitted). */
  after(ms: number, ruleId?: string): Promise<string[]>;
  id(userId: string): Promise<number>;
  sql(text: string, args?: (string | number | null)[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
};

const open: World[] = [];
afterEachTest(async () => {
  setClock(systemClock);
  while (open.length) await open.pop()!.close();
});

export async function startWorld(projectToml = "", extraToml = ""): Promise<World> {
  const clock = manualClock(T0);
  setClock(clock);
  const server = await startTestServer(`${extraToml}\n[[projects]]\nid = "acme"\nname = "Acme"\n${projectToml}`, { background: false });
  const database = server.ctx.database;
  const ext = new Map<number, string>();

  const post = async (path: string, body: unknown) => {
    const res = await server.api(path, { body });
    if (res.status >= 300) throw new Error(`${path} → ${res.status} ${await res.text()}`);
  };

  const world: World = {
    server,
    clock,
    async identify(userId, body = {}) {
      const email = body.email === undefined ? `${userId}@example.com` : body.email;
      await post("/api/v1/users", { external_user_id: userId, ...(email === null ? {} : { email }), traits: body.traits });
    },
    async track(userId, name, properties, timestamp) {
      await post("/api/v1/events", {
        external_user_id: userId,
        name,
        properties,
        ...(timestamp === undefined ? {} : { timestamp: new Date(timestamp).toISOString() }),
      });
    },
    async settle() {
      await drainQueue(server.ctx);
    },
    async evaluate(opts = {}) {
      await drainQueue(server.ctx);
      const matches: Match[] = [];
      const result = await runEvaluator(server.ctx, { trigger: "manual", dryRun: opts.dryRun, onMatches: (_tx, m) => void matches.push(...m) });
      return { ...result, matches };
    },
    async after(ms, ruleId) {
      clock.advance(ms);
      const { matches } = await world.evaluate();
      const ids = await Promise.all(matches.filter((m) => !ruleId || m.ruleId === ruleId).map((m) => externalId(m.userId)));
      return ids.sort();
    },
    async id(userId) {
      const rows = await world.sql("SELECT id FROM tracked_users WHERE project_id = 'acme' AND external_user_id = ?", [userId]);
      if (!rows[0]) throw new Error(`no user ${userId}`);
      return Number(rows[0].id);
    },
    async sql(text, args = []) {
      const r = await database.read({ sql: text, args });
      return r.rows.map((row) => Object.fromEntries(r.columns.map((c) => [c, row[c as keyof typeof row]])));
    },
    close: () => server.close(),
  };
  const externalId = async (id: number) => {
    if (!ext.has(id)) ext.set(id, String((await world.sql("SELECT external_user_id FROM tracked_users WHERE id = ?", [id]))[0]!.external_user_id));
    return ext.get(id)!;
  };
  open.push(world);
  return world;
}

/** Sign a user up now (identify + user_signed_up). */
export async function signUp(world: World, userId: string, email?: string | null): Promise<void> {
  await world.identify(userId, { email });
  await world.track(userId, "user_signed_up", { plan: "free", source: "test" });
}

export function nowIso(): string {
  return new Date(now()).toISOString();
}


/** 30 fresh signups and 20 users last seen 20 days ago, in real time (child processes use the system clock). */
export async function seedReal(w: World): Promise<string> {
  w.clock.set(Date.now());
  const users = Array.from({ length: 50 }, (_, i) => ({ external_user_id: `u${i}`, email: `u${i}@example.com` }));
  expectOk((await w.server.api("/api/v1/users/bulk", { body: { users } })).status).toBe(200);
  const old = new Date(Date.now() - 20 * DAY).toISOString();
  const events = users.map((u, i) =>
    i < 30
      ? { external_user_id: u.external_user_id, name: "user_signed_up", properties: { plan: "free", source: "x" } }
      : { external_user_id: u.external_user_id, name: "page_viewed", timestamp: old },
  );
  expectOk((await w.server.api("/api/v1/events/bulk", { body: { events } })).status).toBe(200);
  await w.settle();
  const path = join(w.server.dir, "vibefollow.toml");
  writeFileSync(path, `[database]\nurl = "file:${join(w.server.dir, "vf.db")}"\n[[projects]]\nid = "acme"\n`);
  return path;
}

function expectOk(status: number) {
  return { toBe(want: number) { if (status !== want) throw new Error(`status ${status}, expected ${want}`); } };
}
