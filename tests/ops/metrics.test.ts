import { afterEach, expect, test } from "bun:test";
import { DRAFT_STATES, MESSAGE_STATES } from "../../src/db/schema";
import { DAY } from "../../src/lib/durations";
import { manualClock, setClock } from "../../src/lib/clock";
import { createDrafts } from "../../src/drafts";
import { drainQueue, normaliserStats } from "../../src/pipeline";
import { runEvaluator } from "../../src/rules";
import { startTestServer, type TestServer } from "../support/harness";

/** GET /metrics over HTTP; checks the text is well-formed and returns `series → value`. */
async function scrape(server: TestServer): Promise<Map<string, number>> {
  const res = await fetch(server.url + "/metrics");
  expect(res.status).toBe(200);
  const text = await res.text();
  expect(text.endsWith("\n")).toBe(true);
  const series = new Map<string, number>();
  const help = new Set<string>();
  const type = new Set<string>();
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) (\w+) /.exec(line);
    if (meta) {
      const seen = meta[1] === "HELP" ? help : type;
      expect(seen.has(meta[2]!)).toBe(false); // once per metric
      seen.add(meta[2]!);
      continue;
    }
    const m = /^(\w+)(\{(?:\w+="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/.exec(line);
    expect(m, line).not.toBeNull();
    expect(type.has(m![1]!), `${m![1]} sampled before its TYPE`).toBe(true);
    expect(series.has(m![1]! + (m![2] ?? "")), `duplicate series ${line}`).toBe(false);
    series.set(m![1]! + (m![2] ?? ""), Number(m![3]));
  }
  return series;
}

const open: TestServer[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});
async function start(toml = ""): Promise<TestServer> {
  const server = await startTestServer(toml, { background: false });
  open.push(server);
  return server;
}

async function post(server: TestServer, path: string, body: unknown): Promise<void> {
  const res = await server.api(path, { body });
  expect(res.status, `${path}: ${await res.clone().text()}`).toBeLessThan(300);
}

const OUTCOMES = ["applied", "buffered", "quarantined", "duplicates"];
const BUFFER_OUTCOMES = ["attached", "duplicates", "quarantined", "expired"];
const delta = (a: Map<string, number>, b: Map<string, number>, key: string) => (b.get(key) ?? NaN) - (a.get(key) ?? 0);

test("normaliser items by outcome partition the queue items taken; buffer attach/expire is a separate counter", async () => {
  const clock = manualClock(Date.now());
  setClock(clock);
  const server = await start();
  const before = await scrape(server);

  // An event for a user not yet known, then its identify: 2 queue items (buffered, applied), 1 attach.
  await post(server, "/api/v1/events", { external_user_id: "late", name: "opened_app" });
  await drainQueue(server.ctx);
  await post(server, "/api/v1/users", { external_user_id: "late" });
  await drainQueue(server.ctx);
  // The same within one batch (the event waits in the batch, not in event_buffer): counted the same way.
  await post(server, "/api/v1/events", { external_user_id: "soon", name: "opened_app" });
  await post(server, "/api/v1/users", { external_user_id: "soon" });
  await drainQueue(server.ctx);
  // The same bulk event sent twice before its user exists: both buffered; on identify one attaches and the
  // other is skipped as a bulk duplicate — a buffer movement, not a second outcome of a queue item.
  const imported = { external_user_id: "dup", name: "imported", occurred_at: new Date(clock.now() - 3 * DAY).toISOString() };
  await post(server, "/api/v1/events/bulk", { events: [imported] });
  await post(server, "/api/v1/events/bulk", { events: [imported] });
  await drainQueue(server.ctx);
  await post(server, "/api/v1/users", { external_user_id: "dup" });
  await drainQueue(server.ctx);
  // An event whose user never comes: buffered, then expired after buffer_ttl (7 days by default).
  await post(server, "/api/v1/events", { external_user_id: "ghost", name: "opened_app" });
  await drainQueue(server.ctx);
  clock.advance(8 * DAY);
  await drainQueue(server.ctx);
  // An item of a project that is no longer configured: quarantined by the normaliser.
  await server.ctx.database.execute({
    sql: "INSERT INTO ingest_queue (project_id, kind, source, payload, received_at) VALUES ('gone', 'track', 'api', ?, ?)",
    args: [JSON.stringify({ external_user_id: "x", name: "y" }), clock.now()],
  });
  await drainQueue(server.ctx);

  const after = await scrape(server);
  const taken = 9;
  const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, delta(before, after, `vibefollow_normaliser_items_total{outcome="${o}"}`)]));
  expect(outcomes).toEqual({ applied: 3, buffered: 5, quarantined: 1, duplicates: 0 });
  expect(delta(before, after, "vibefollow_normaliser_items_taken_total")).toBe(taken);
  expect(Object.values(outcomes).reduce((a, b) => a + b, 0)).toBe(taken);
  // Only the partitioning outcomes carry the queue-items metric.
  const labels = [...after.keys()].filter((k) => k.startsWith("vibefollow_normaliser_items_total{"));
  expect(labels.sort()).toEqual(OUTCOMES.map((o) => `vibefollow_normaliser_items_total{outcome="${o}"}`).sort());
  const buffer = Object.fromEntries(BUFFER_OUTCOMES.map((o) => [o, delta(before, after, `vibefollow_buffer_events_total{outcome="${o}"}`)]));
  expect(buffer).toEqual({ attached: 3, duplicates: 1, quarantined: 0, expired: 1 });
  expect(after.get("vibefollow_normaliser_errors_total")).toBe(normaliserStats.errors);
});

test("normaliser step failures are counted in vibefollow_normaliser_errors_total", async () => {
  const server = await startTestServer("", { background: true });
  open.push(server);
  const before = (await scrape(server)).get("vibefollow_normaliser_errors_total");
  expect(before).toBe(normaliserStats.errors);
  // The queue table goes away under the running loop: each poll fails, the loop backs off and counts it.
  await server.ctx.database.execute("ALTER TABLE ingest_queue RENAME TO ingest_queue_away");
  try {
    for (let i = 0; i < 600 && normaliserStats.errors === before; i++) await Bun.sleep(50);
  } finally {
    await server.ctx.database.execute("ALTER TABLE ingest_queue_away RENAME TO ingest_queue");
  }
  const after = (await scrape(server)).get("vibefollow_normaliser_errors_total")!;
  expect(after).toBeGreaterThan(before!);
});

test("evaluator failures are exported: runs by status, and the time of the last successful run", async () => {
  const server = await start();
  await post(server, "/api/v1/users", { external_user_id: "w1", email: "w1@example.com" });
  await post(server, "/api/v1/events", { external_user_id: "w1", name: "user_signed_up" });
  await drainQueue(server.ctx);
  const fresh = await scrape(server);
  for (const status of ["ok", "failed", "interrupted"]) expect(fresh.get(`vibefollow_evaluator_runs_total{status="${status}"}`)).toBe(0);
  expect(fresh.has("vibefollow_evaluator_last_success_timestamp_seconds")).toBe(false);

  const failed = await runEvaluator(server.ctx, {
    trigger: "manual",
    onMatches: () => {
      throw new Error("drafts are down");
    },
  });
  expect(failed.status).toBe("failed");
  const afterFailure = await scrape(server);
  expect(afterFailure.get('vibefollow_evaluator_runs_total{status="failed"}')).toBe(1);
  expect(afterFailure.get('vibefollow_evaluator_runs_total{status="ok"}')).toBe(0);
  expect(afterFailure.has("vibefollow_evaluator_last_success_timestamp_seconds")).toBe(false);

  const ok = await runEvaluator(server.ctx, { trigger: "manual" });
  expect(ok.status).toBe("ok");
  const afterOk = await scrape(server);
  expect(afterOk.get('vibefollow_evaluator_runs_total{status="failed"}')).toBe(1);
  expect(afterOk.get('vibefollow_evaluator_runs_total{status="ok"}')).toBe(1);
  const last = afterOk.get("vibefollow_evaluator_last_success_timestamp_seconds")!;
  expect(Math.abs(last - Date.now() / 1000)).toBeLessThan(120);
});

test("drafts, open quarantine and messages read 0 for every configured project and known state", async () => {
  const server = await start('[[projects]]\nid = "alpha"\n[[projects]]\nid = "beta"\n');
  const transports = ["smtp", "outbox"];
  const empty = await scrape(server);
  for (const project of ["alpha", "beta"]) {
    expect(empty.get(`vibefollow_quarantine_open{project="${project}"}`)).toBe(0);
    for (const state of DRAFT_STATES) expect(empty.get(`vibefollow_drafts{project="${project}",state="${state}"}`)).toBe(0);
    for (const state of MESSAGE_STATES) {
      for (const transport of transports) {
        expect(empty.get(`vibefollow_messages{project="${project}",state="${state}",transport="${transport}"}`)).toBe(0);
      }
    }
  }

  // One draft in alpha, and a quarantined item of a project no longer configured: counted beside the zeros.
  await post(server, "/api/v1/users", { external_user_id: "w1", email: "w1@example.com" });
  await post(server, "/api/v1/events", { external_user_id: "w1", name: "user_signed_up" });
  await server.ctx.database.execute({
    sql: "INSERT INTO ingest_queue (project_id, kind, source, payload, received_at) VALUES ('gone', 'track', 'api', ?, ?)",
    args: [JSON.stringify({ external_user_id: "x", name: "y" }), Date.now()],
  });
  await drainQueue(server.ctx);
  const run = await runEvaluator(server.ctx, { trigger: "manual", onMatches: async (tx, m) => void (await createDrafts(tx, m, server.ctx.config)) });
  expect(run.total).toBeGreaterThan(0);
  const filled = await scrape(server);
  expect(filled.get('vibefollow_quarantine_open{project="gone"}')).toBe(1);
  expect(filled.get('vibefollow_quarantine_open{project="alpha"}')).toBe(0);
  expect(filled.get('vibefollow_quarantine_open{project="beta"}')).toBe(0);
  const alpha = DRAFT_STATES.map((s) => filled.get(`vibefollow_drafts{project="alpha",state="${s}"}`));
  expect(alpha.every((n) => n !== undefined)).toBe(true);
  expect(alpha.reduce((a, b) => a! + b!, 0)).toBe(run.total);
  for (const state of DRAFT_STATES) expect(filled.get(`vibefollow_drafts{project="beta",state="${state}"}`)).toBe(0);
});

test("the checkpoint thread's work and the WAL's size are exported", async () => {
  const server = await start();
  const before = await scrape(server);
  expect(before.has('vibefollow_wal_checkpoints_total{mode="passive"}')).toBe(true);
  expect(before.has('vibefollow_wal_checkpoints_total{mode="restart"}')).toBe(true);
  expect(before.has("vibefollow_db_file_flushes_total")).toBe(true);
  // Ingest commits on the write thread; its checkpoint thread copies the pages on its next pass (every 2 s).
  await post(server, "/api/v1/events", { external_user_id: "c1", name: "page_viewed" });
  expect((await scrape(server)).get("vibefollow_wal_size_bytes")).toBeGreaterThan(0);
  let after = before;
  for (let i = 0; i < 100 && !(delta(before, after, 'vibefollow_wal_checkpoints_total{mode="passive"}') > 0); i++) {
    await Bun.sleep(100);
    after = await scrape(server);
  }
  expect(delta(before, after, 'vibefollow_wal_checkpoints_total{mode="passive"}')).toBeGreaterThan(0);
  if (process.platform === "linux") expect(delta(before, after, "vibefollow_db_file_flushes_total")).toBeGreaterThan(0);
}, 20_000);
