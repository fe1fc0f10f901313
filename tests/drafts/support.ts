import { createDrafts, runSendingTick, type SendingEnv } from "../../src/drafts";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { drainQueue } from "../../src/pipeline";
import { runEvaluator, type Match } from "../../src/rules";
import { afterEachTest } from "../support/after-each";
import { startTestServer, type TestServer } from "../support/harness";

export { DAY, HOUR, MINUTE } from "../../src/lib/durations";
/** A Monday, 08:00 UTC (09:00 in Berlin). */
export const T0 = Date.parse("2026-03-02T08:00:00Z");

/**
 * A real server (real DB file, background loops off) fed through the real ingest API and normaliser, with the
 * real evaluator handing its matches to `createDrafts`, and the sending tick driven by hand under a manual clock.
 */
export type World = {
  server: TestServer;
  clock: ReturnType<typeof manualClock>;
  env: SendingEnv;
  identify(userId: string, email?: string | null, traits?: Record<string, unknown>): Promise<void>;
  track(userId: string, name: string, properties?: Record<string, unknown>): Promise<void>;
  signUp(userId: string, traits?: Record<string, unknown>): Promise<void>;
  /** Normaliser + evaluator (matches become drafts). */
  evaluate(): Promise<Match[]>;
  tick(): ReturnType<typeof runSendingTick>;
  userId(externalId: string): Promise<number>;
  sql(text: string, args?: (string | number | null)[]): Promise<Record<string, any>[]>;
  close(): Promise<void>;
};

const open: World[] = [];
afterEachTest(async () => {
  setClock(systemClock);
  while (open.length) await open.pop()!.close();
});

export async function startWorld(projectToml = "", topToml = "", start = T0): Promise<World> {
  const clock = manualClock(start);
  setClock(clock);
  const server = await startTestServer(`[server]\npublic_url = "https://vf.example.com"\n${topToml}\n[[projects]]\nid = "acme"\n${/^name\s*=/m.test(projectToml) ? "" : 'name = "Acme"\n'}timezone = "Europe/Berlin"\nsender = { from = "Jane at Acme <jane@acme.io>", reply_to = "jane@acme.io" }\n${projectToml}`, { background: false });
  const service = server.ctx.services.find((s) => s.name === "sending") as unknown as { env: SendingEnv };
  const post = async (path: string, body: unknown) => {
    const res = await server.api(path, { body });
    if (res.status >= 300) throw new Error(`${path} → ${res.status} ${await res.text()}`);
  };
  const world: World = {
    server,
    clock,
    env: service.env,
    identify: (userId, email, traits) =>
      post("/api/v1/users", { external_user_id: userId, ...(email === null ? {} : { email: email ?? `${userId}@example.com` }), traits }),
    track: (userId, name, properties) => post("/api/v1/events", { external_user_id: userId, name, properties }),
    async signUp(userId, traits) {
      await world.identify(userId, undefined, { name: `${userId[0]!.toUpperCase()}${userId.slice(1)} Example`, ...traits });
      await world.track(userId, "user_signed_up", { plan: "free", source: "test" });
    },
    async evaluate() {
      await drainQueue(server.ctx);
      const matches: Match[] = [];
      await runEvaluator(server.ctx, {
        trigger: "manual",
        onMatches: async (tx, m) => {
          matches.push(...m);
          await createDrafts(tx, m, server.ctx.config);
        },
      });
      return matches;
    },
    tick: () => runSendingTick(service.env),
    async userId(externalId) {
      const rows = await world.sql("SELECT id FROM tracked_users WHERE external_user_id = ?", [externalId]);
      return Number(rows[0]!.id);
    },
    async sql(text, args = []) {
      const rs = await server.ctx.database.read({ sql: text, args });
      return rs.rows.map((r) => Object.fromEntries(rs.columns.map((c) => [c, r[c]])));
    },
    async close() {
      service.env.messengers.close();
      await server.close();
    },
  };
  open.push(world);
  return world;
}

/** Only the welcome rule, so a test sees one kind of draft. */
export const ONLY_WELCOME = ["onboarding_stalled", "trial_expiring", "payment_failed", "cancellation_save", "win_back", "inactive_14d", "first_feature"]
  .map((id) => `[[projects.rules]]\nid = "${id}"\nenabled = false\n`)
  .join("");
