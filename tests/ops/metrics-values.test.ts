import { afterEach, expect, test } from "bun:test";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { drainQueue } from "../../src/pipeline";
import { runEvaluator } from "../../src/rules";
import { startTestServer, type TestServer } from "../support/harness";

// SPEC §14 / docs/metrics.md: /metrics carries queue lag and the evaluator's duration and matches — with values
// that follow what happened, not just the series names.
const open: TestServer[] = [];
afterEach(async () => {
  setClock(systemClock);
  while (open.length) await open.pop()!.close();
});

/** GET /metrics → `series → value` (series as written, labels included). */
async function scrape(server: TestServer): Promise<Map<string, number>> {
  const res = await fetch(server.url + "/metrics");
  expect(res.status).toBe(200);
  const series = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    const m = /^(\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) series.set(m[1]!, Number(m[2]));
  }
  return series;
}

async function post(server: TestServer, path: string, body: unknown): Promise<void> {
  const res = await server.api(path, { body });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
}

test("queue lag is the age of the oldest waiting item (background loops off), and 0 once the queue is drained", async () => {
  const clock = manualClock(Date.parse("2026-03-02T08:00:00Z"));
  setClock(clock);
  const server = await startTestServer("", { background: false });
  open.push(server);
  const empty = await scrape(server);
  expect(empty.get("vibefollow_queue_depth")).toBe(0);
  expect(empty.get("vibefollow_queue_lag_seconds")).toBe(0);

  await post(server, "/api/v1/events", { external_user_id: "old", name: "opened_app" });
  const [queued] = (await server.ctx.database.read("SELECT received_at FROM ingest_queue")).rows;
  const receivedAt = Number(queued!.received_at);
  expect(receivedAt).toBe(clock.now());
  // The item waits: 90 s later it is 90 s old.
  clock.advance(90_000);
  await post(server, "/api/v1/events", { external_user_id: "new", name: "opened_app" });
  const waiting = await scrape(server);
  expect(waiting.get("vibefollow_queue_depth")).toBe(2);
  expect(waiting.get("vibefollow_queue_lag_seconds")).toBe(90);

  // An item received long ago (e.g. left behind by a stalled normaliser) is older still.
  await server.ctx.database.execute("DELETE FROM ingest_queue");
  await server.ctx.database.execute({
    sql: "INSERT INTO ingest_queue (project_id, kind, source, payload, received_at) VALUES ('default', 'track', 'api', ?, ?)",
    args: [JSON.stringify({ external_user_id: "x", name: "y" }), clock.now() - 3_600_000],
  });
  const stale = await scrape(server);
  expect(stale.get("vibefollow_queue_lag_seconds")).toBe(3600);
  expect(stale.get("vibefollow_queue_lag_seconds")).toBeGreaterThan(0);

  await drainQueue(server.ctx);
  const drained = await scrape(server);
  expect(drained.get("vibefollow_queue_depth")).toBe(0);
  expect(drained.get("vibefollow_queue_lag_seconds")).toBe(0);
});

test("after a successful evaluator run: its duration and the per-rule matches of that run", async () => {
  const server = await startTestServer("", { background: false });
  open.push(server);
  const before = await scrape(server);
  expect(before.has("vibefollow_evaluator_last_duration_seconds")).toBe(false);
  expect([...before.keys()].some((k) => k.startsWith("vibefollow_evaluator_last_matches"))).toBe(false);

  for (const u of ["m1", "m2"]) {
    await post(server, "/api/v1/users", { external_user_id: u, email: `${u}@example.com` });
    await post(server, "/api/v1/events", { external_user_id: u, name: "user_signed_up" });
  }
  await drainQueue(server.ctx);
  const run = await runEvaluator(server.ctx, { trigger: "manual" });
  expect(run.status).toBe("ok");
  const welcome = run.rules.find((r) => r.rule === "welcome")!;
  expect(welcome.matches).toBe(2);

  const after = await scrape(server);
  const duration = after.get("vibefollow_evaluator_last_duration_seconds")!;
  expect(duration).toBe(run.durationMs / 1000);
  expect(duration).toBeGreaterThanOrEqual(0);
  expect(duration).toBeLessThan(60);
  expect(after.get('vibefollow_evaluator_last_matches{project="default",rule="welcome"}')).toBe(2);
  // Every rule of the run has its series, with the run's count.
  const matchSeries = [...after.entries()].filter(([k]) => k.startsWith("vibefollow_evaluator_last_matches{"));
  expect(matchSeries.length).toBe(run.rules.length);
  for (const r of run.rules) expect(after.get(`vibefollow_evaluator_last_matches{project="${r.project}",rule="${r.rule}"}`)).toBe(r.matches);
  expect(matchSeries.every(([, v]) => Number.isInteger(v) && v >= 0)).toBe(true);

  // A second run finds nothing new: the series follow the last run (0), not a running total.
  const second = await runEvaluator(server.ctx, { trigger: "manual" });
  expect(second.status).toBe("ok");
  const later = await scrape(server);
  expect(later.get('vibefollow_evaluator_last_matches{project="default",rule="welcome"}')).toBe(0);
  expect(later.get("vibefollow_evaluator_last_duration_seconds")).toBe(second.durationMs / 1000);
});
