import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import { startTestServer, type TestServer } from "../support/harness";
import { event, post, queueRows } from "./support";

// SPEC §3's table, row by row: body, limit, success status and envelope, and the queue rows it leaves behind.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer("", { background: false });
});
afterAll(() => server.close());
beforeEach(() => server.ctx.database.execute("DELETE FROM ingest_queue"));

test("POST /api/v1/users enqueues one identify and answers 202 accepted", async () => {
  const res = await post(server, "/api/v1/users", { external_user_id: "u1", email: "ann@example.com", traits: { plan: "pro", signupDate: "2026-01-01" }, extra: 1 });
  expect(res.status).toBe(202);
  expect(res.json).toEqual({ data: { accepted: true } });
  expect(res.headers.get("content-type")).toContain("application/json");
  const rows = await queueRows(server);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ project_id: "default", kind: "identify", source: "api" });
  // Stored verbatim (SPEC §2), unknown top-level fields included: validation ignores them, it does not drop them.
  expect(rows[0]!.payload).toEqual({ external_user_id: "u1", email: "ann@example.com", traits: { plan: "pro", signupDate: "2026-01-01" }, extra: 1 });
});

test("POST /api/v1/events enqueues one track and answers 202 accepted", async () => {
  const body = { external_user_id: "u1", name: "feature_used", properties: { feature: "export", workspaceId: "w1" }, timestamp: "2026-01-01T10:00:00Z", ignored: true };
  const res = await post(server, "/api/v1/events", body);
  expect(res.status).toBe(202);
  expect(res.json).toEqual({ data: { accepted: true } });
  const rows = await queueRows(server);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ kind: "track", source: "api" });
  expect(rows[0]!.payload).toEqual(body);
  expect(typeof rows[0]!.received_at).toBe("number");
});

test("POST /api/v1/events/batch enqueues every event, in order, one row each", async () => {
  const events = Array.from({ length: 500 }, (_, i) => event(i));
  const res = await post(server, "/api/v1/events/batch", { events });
  expect(res.status).toBe(202);
  expect(res.json).toEqual({ data: { accepted: true } });
  const rows = await queueRows(server);
  expect(rows.map((r) => (r.payload as any).properties.i)).toEqual(events.map((_, i) => i));
  expect(new Set(rows.map((r) => r.source))).toEqual(new Set(["api"]));
});

test("batch is all or nothing: one bad event → 422 with its field, nothing enqueued", async () => {
  const events = Array.from({ length: 10 }, (_, i) => event(i));
  events[3] = { ...events[3]!, name: "" };
  events[7] = { ...events[7]!, external_user_id: 42 as any };
  const res = await post(server, "/api/v1/events/batch", { events });
  expect(res.status).toBe(422);
  expect(res.json.errors.map((e: any) => [e.code, e.field])).toEqual([
    ["validation_failed", "events[3].name"],
    ["validation_failed", "events[7].external_user_id"],
  ]);
  expect(await queueRows(server)).toHaveLength(0);
});

test("batch limits: 0 and 501 events are 422 on `events`", async () => {
  for (const events of [[], Array.from({ length: 501 }, (_, i) => event(i))]) {
    const res = await post(server, "/api/v1/events/batch", { events });
    expect(res.status).toBe(422);
    expect(res.json.errors[0]).toMatchObject({ code: "validation_failed", field: "events" });
  }
  const missing = await post(server, "/api/v1/events/batch", { items: [event()] });
  expect(missing.status).toBe(422);
  expect(missing.json.errors[0]).toMatchObject({ code: "validation_failed", field: "events" });
  expect(await queueRows(server)).toHaveLength(0);
});

test("events/bulk: 200, per-record errors, accepted + rejected = received, good records enqueued", async () => {
  const events: unknown[] = Array.from({ length: 1000 }, (_, i) => event(i, { timestamp: "2025-06-01T00:00:00Z" }));
  events[1] = { ...(events[1] as object), name: "$pageview" };
  events[500] = "not an object";
  events[999] = { external_user_id: "u", name: "trial_started", properties: { trialDays: "14" } };
  const res = await post(server, "/api/v1/events/bulk", { events });
  expect(res.status).toBe(200);
  expect(res.json.meta).toEqual({ received: 1000 });
  expect(res.json.data.accepted).toBe(997);
  expect(res.json.data.rejected).toBe(3);
  expect(res.json.data.accepted + res.json.data.rejected).toBe(res.json.meta.received);
  expect(res.json.data.errors).toEqual([
    { index: 1, code: "validation_failed", message: expect.any(String), field: "events[1].name" },
    { index: 500, code: "validation_failed", message: expect.any(String), field: "events[500]" },
    { index: 999, code: "validation_failed", message: expect.any(String), field: "events[999].properties.trialDays" },
  ]);
  const rows = await queueRows(server);
  // The 997 accepted, and the one refused for its canonical property alone, which the normaliser quarantines (SPEC §5.3).
  expect(rows).toHaveLength(998);
  expect(rows.at(-1)!.payload).toMatchObject({ name: "trial_started", properties: { trialDays: "14" } });
  expect(new Set(rows.map((r) => r.source))).toEqual(new Set(["bulk"]));
  expect(new Set(rows.map((r) => r.kind))).toEqual(new Set(["track"]));
});

test("users/bulk: 200, per-record errors, identify rows with source bulk", async () => {
  const users = [{ external_user_id: "a", email: "a@example.com" }, { external_user_id: "", email: "b@example.com" }, { external_user_id: "c", email: "not-an-email" }, { external_user_id: "d", traits: { company: "Acme" } }];
  const res = await post(server, "/api/v1/users/bulk", { users });
  expect(res.status).toBe(200);
  expect(res.json).toEqual({
    data: {
      accepted: 2,
      rejected: 2,
      errors: [
        { index: 1, code: "validation_failed", message: expect.any(String), field: "users[1].external_user_id" },
        { index: 2, code: "validation_failed", message: expect.any(String), field: "users[2].email" },
      ],
    },
    meta: { received: 4 },
  });
  const rows = await queueRows(server);
  expect(rows.map((r) => [r.kind, r.source, (r.payload as any).external_user_id])).toEqual([
    ["identify", "bulk", "a"],
    ["identify", "bulk", "d"],
  ]);
});

test("bulk limits: 1–1,000 records", async () => {
  const tooMany = await post(server, "/api/v1/users/bulk", { users: Array.from({ length: 1001 }, (_, i) => ({ external_user_id: `u${i}` })) });
  expect(tooMany.status).toBe(422);
  expect(tooMany.json.errors[0]).toMatchObject({ code: "validation_failed", field: "users" });
  const none = await post(server, "/api/v1/events/bulk", { events: [] });
  expect(none.status).toBe(422);
  const all = await post(server, "/api/v1/users/bulk", { users: Array.from({ length: 1000 }, (_, i) => ({ external_user_id: `u${i}` })) });
  expect(all.status).toBe(200);
  expect(all.json.data).toMatchObject({ accepted: 1000, rejected: 0, errors: [] });
});

test("a bulk request whose records are all bad is still 200 and enqueues nothing", async () => {
  const res = await post(server, "/api/v1/events/bulk", { events: [{ name: "x" }, { external_user_id: "u" }] });
  expect(res.status).toBe(200);
  expect(res.json.data).toMatchObject({ accepted: 0, rejected: 2 });
  expect(await queueRows(server)).toHaveLength(0);
});

test("any method but POST on an ingest or Segment path is 405 with Allow: POST (a preflight too); no CORS headers are ever sent", async () => {
  for (const path of ["/api/v1/users", "/api/v1/users/bulk", "/api/v1/events", "/api/v1/events/batch", "/api/v1/events/bulk", "/v1/batch", "/v1/track"]) {
    for (const method of ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]) {
      const res = await fetch(server.url + path, { method, headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
      expect([path, method, res.status, res.headers.get("allow")]).toEqual([path, method, 405, "POST"]);
      if (method !== "HEAD") expect(await res.json()).toEqual({ errors: [{ code: "method_not_allowed", message: "Only POST is allowed on this path." }] });
      expect([...res.headers.keys()].some((k) => k.startsWith("access-control-"))).toBe(false);
    }
  }
  // A path that does not exist is still 404.
  expect((await fetch(server.url + "/api/v1/nothing")).status).toBe(404);
  expect(await queueRows(server)).toHaveLength(0);
  const ok = await post(server, "/api/v1/events", event(), { origin: "https://evil.example" });
  expect(ok.status).toBe(202);
  expect([...ok.headers.keys()].some((k) => k.startsWith("access-control-"))).toBe(false);
});
