import { afterAll, afterEach, beforeAll, expect, spyOn, test } from "bun:test";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { ingestWriterFor } from "../../src/ingest";
import type { TestServer } from "../support/harness";
import { holdWriteLock, waitFor } from "../ingest/support";
import { count, drain, eventsOf, queueDepth, rows, send, startSegmentServer } from "./support";
import { HOUR } from "../../src/lib/durations";

/** messageId dedupe (24 h, per message, across and inside requests) and anonymous-only messages. */
let server: TestServer;
beforeAll(async () => {
  server = await startSegmentServer();
});
afterAll(() => server.close());
afterEach(() => setClock(systemClock));

const db = () => server.ctx.database;

test("the same batch sent twice is stored once; the replay answers 200 and enqueues nothing", async () => {
  await send(server, "/v1/identify", { userId: "d1", messageId: "d1-identify" });
  const body = {
    batch: [
      { type: "track", userId: "d1", event: "Clicked", messageId: "d1-a" },
      { type: "track", userId: "d1", event: "Clicked", messageId: "d1-b" },
    ],
  };
  expect((await send(server, "/v1/batch", body)).status).toBe(200);
  expect(await queueDepth(db())).toBe(3);
  const replay = await send(server, "/v1/batch", body);
  expect(replay.status).toBe(200);
  expect(replay.json).toEqual({ success: true });
  expect(await queueDepth(db())).toBe(3);
  await drain(server);
  expect((await eventsOf(db(), "d1")).length).toBe(2);
  // Dedupe is per message: a batch with one old and one new message stores just the new one.
  await send(server, "/v1/batch", { batch: [body.batch[0], { type: "track", userId: "d1", event: "Clicked", messageId: "d1-c" }] });
  expect(await queueDepth(db())).toBe(1);
  // The same messageId twice inside one batch counts once.
  await send(server, "/v1/batch", { batch: [{ type: "track", userId: "d1", event: "Twice", messageId: "d1-d" }, { type: "track", userId: "d1", event: "Twice", messageId: "d1-d" }] });
  await drain(server);
  expect((await eventsOf(db(), "d1")).map((e) => e.name)).toEqual(["clicked", "clicked", "clicked", "twice"]);
});

test("messageIds are looked up inside the commit: the request itself reads no stored key from the database", async () => {
  const body = { batch: [{ type: "track", userId: "d9", event: "Looked", messageId: "d9-a" }] };
  expect((await send(server, "/v1/batch", body)).status).toBe(200);
  const reads = spyOn(db(), "read");
  try {
    expect((await send(server, "/v1/batch", body)).status).toBe(200);
    expect((await send(server, "/v1/batch", { batch: [...body.batch, { type: "track", userId: "d9", event: "Looked", messageId: "d9-b" }] })).status).toBe(200);
    // The API key's row may be read again (its cache entry is trusted for 100 ms, src/keys/service.ts), so only
    // reads of the stored messageIds count.
    const sqlOf = (statement: unknown) => (typeof statement === "string" ? statement : (statement as { sql: string }).sql);
    expect(reads.mock.calls.map(([statement]) => sqlOf(statement)).filter((sql) => sql.includes("idempotency_keys"))).toEqual([]);
    expect(await queueDepth(db())).toBe(2);
  } finally {
    reads.mockRestore();
    await drain(server);
  }
});

test("keys live in idempotency_keys under the segment: namespace, so an API Idempotency-Key never collides", async () => {
  await send(server, "/v1/track", { userId: "d2", event: "Clicked", messageId: "shared-id" });
  const keys = await rows(db(), "SELECT key, status FROM idempotency_keys WHERE key LIKE '%shared-id'");
  expect(keys).toEqual([{ key: "segment:shared-id", status: 200 }]);
  const api = await server.api("/api/v1/events", { body: { external_user_id: "d2", name: "other" }, headers: { "idempotency-key": "shared-id" } });
  expect(api.status).toBe(202);
  expect(await queueDepth(db())).toBe(2);
  await drain(server);
});

test("concurrent requests carrying the same messageIds enqueue each message once", async () => {
  // Hold the database so that the first request sits in the writer while the others arrive: without the
  // in-memory claims they would all find no key in the table and enqueue again.
  const lock = await holdWriteLock(db());
  const body = { batch: Array.from({ length: 20 }, (_, i) => ({ type: "track", userId: "d3", event: "Burst", messageId: `d3-${i}` })) };
  const pending = Promise.all(Array.from({ length: 8 }, () => send(server, "/v1/batch", body)));
  const writer = ingestWriterFor(server.ctx);
  let waiting: number;
  try {
    await waitFor(() => writer.pendingJobs >= 1);
    await Bun.sleep(100); // time for the other seven to reach the claims (or, if broken, the writer)
    waiting = writer.pendingJobs;
  } finally {
    await lock.release();
  }
  expect(waiting).toBe(1);
  const results = await pending;
  expect(results.every((r) => r.status === 200)).toBe(true);
  expect(await queueDepth(db())).toBe(20);
  await drain(server);
});

test("dedupe lasts 24 h: the same messageId a day later is a new message", async () => {
  const t0 = Date.parse("2026-04-01T00:00:00Z");
  setClock(manualClock(t0));
  const msg = { userId: "d4", event: "Daily", messageId: "d4-once" };
  await send(server, "/v1/track", msg);
  setClock(manualClock(t0 + 23 * HOUR));
  await send(server, "/v1/track", msg);
  expect(await queueDepth(db())).toBe(1);
  setClock(manualClock(t0 + 24 * HOUR + 1));
  await send(server, "/v1/track", msg);
  expect(await queueDepth(db())).toBe(2);
  await drain(server);
});

test("a refused request consumes no messageId: the corrected retry goes through", async () => {
  const bad = await send(server, "/v1/batch", { batch: [{ type: "track", userId: "d5", event: "Fine", messageId: "d5-1" }, 7] });
  expect(bad.status).toBe(422);
  const good = await send(server, "/v1/batch", { batch: [{ type: "track", userId: "d5", event: "Fine", messageId: "d5-1" }] });
  expect(good.status).toBe(200);
  expect(await queueDepth(db())).toBe(1);
  await drain(server);
});

test("a message with only anonymousId is buffered like an unknown user, under anon:<anonymousId>", async () => {
  await send(server, "/v1/batch", {
    batch: [
      { type: "track", anonymousId: "a-77", event: "Viewed Pricing", messageId: "anon-1" },
      // An anonymous identify is accepted and ignored: it would create a user nobody can address.
      { type: "identify", anonymousId: "a-77", traits: { email: "anon@example.com" }, messageId: "anon-2" },
      // With a userId the anonymousId is not used.
      { type: "track", userId: "d6", anonymousId: "a-77", event: "Known", messageId: "anon-3" },
    ],
  });
  expect(await queueDepth(db())).toBe(2);
  const stats = await drain(server);
  expect(stats.buffered).toBe(2);
  expect(await rows(db(), "SELECT external_user_id FROM event_buffer WHERE external_user_id IN ('anon:a-77', 'd6') ORDER BY id")).toEqual([{ external_user_id: "anon:a-77" }, { external_user_id: "d6" }]);
  expect(await count(db(), "SELECT count(*) AS n FROM tracked_users WHERE external_user_id LIKE 'anon:%'")).toBe(0);
  // Identified later under that id (e.g. by a replay), the buffered event attaches like any other.
  await send(server, "/v1/identify", { userId: "anon:a-77", messageId: "anon-4" });
  await drain(server);
  expect((await eventsOf(db(), "anon:a-77")).map((e) => e.name)).toEqual(["viewed_pricing"]);
});

test("an identify with userId and anonymousId brings the visitor's anonymous events to the user", async () => {
  await send(server, "/v1/batch", {
    batch: [
      { type: "track", anonymousId: "v-1", event: "Viewed Pricing", timestamp: "2026-03-01T10:00:00Z", messageId: "link-1" },
      { type: "track", anonymousId: "v-1", event: "Started Checkout", timestamp: "2026-03-01T10:05:00Z", messageId: "link-2" },
      { type: "track", anonymousId: "v-2", event: "Someone Else", messageId: "link-3" },
    ],
  });
  await drain(server);
  expect(await count(db(), "SELECT count(*) AS n FROM event_buffer WHERE external_user_id = 'anon:v-1'")).toBe(2);
  // Signing up: Segment's identify carries both ids.
  await send(server, "/v1/identify", { userId: "buyer-1", anonymousId: "v-1", traits: { email: "buyer@example.com" }, messageId: "link-4" });
  await drain(server);
  expect((await eventsOf(db(), "buyer-1")).map((e) => e.name)).toEqual(["viewed_pricing", "started_checkout"]);
  expect(await count(db(), "SELECT count(*) AS n FROM event_buffer WHERE external_user_id = 'anon:v-1'")).toBe(0);
  // Another visitor's events stay where they were; no anon: user is created.
  expect(await count(db(), "SELECT count(*) AS n FROM event_buffer WHERE external_user_id = 'anon:v-2'")).toBe(1);
  expect(await count(db(), "SELECT count(*) AS n FROM tracked_users WHERE external_user_id LIKE 'anon:v-%'")).toBe(0);
  // The same in one batch: anonymous events, then the identify.
  await send(server, "/v1/batch", {
    batch: [
      { type: "track", anonymousId: "v-3", event: "Viewed Pricing", messageId: "link-5" },
      { type: "identify", userId: "buyer-3", anonymousId: "v-3", messageId: "link-6" },
    ],
  });
  await drain(server);
  expect((await eventsOf(db(), "buyer-3")).map((e) => e.name)).toEqual(["viewed_pricing"]);
});
