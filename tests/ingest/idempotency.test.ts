import { afterAll, afterEach, beforeAll, beforeEach, expect, spyOn, test } from "bun:test";
import { IdempotencyStore, ingestWriterFor } from "../../src/ingest";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { startTestServer, tempDir, type TestServer } from "../support/harness";
import { createKey } from "../../src/keys/service";
import { count, event, holdWriteLock, post, queueRows, startOn, waitFor } from "./support";

// SPEC §3 idempotency: replay, reuse, in flight, rejected requests don't consume keys, keys survive restart.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer("", { background: false });
});
afterAll(() => server.close());
beforeEach(async () => {
  await server.ctx.database.execute("DELETE FROM ingest_queue");
  await server.ctx.database.execute("DELETE FROM idempotency_keys");
});
afterEach(() => setClock(systemClock));

const withKey = (key: string) => ({ "idempotency-key": key });

test("same key, same body: the original status and body, nothing enqueued twice", async () => {
  const key = crypto.randomUUID();
  const first = await post(server, "/api/v1/events", event(1), withKey(key));
  expect(first.status).toBe(202);
  const again = await post(server, "/api/v1/events", event(1), withKey(key));
  expect(again.status).toBe(202);
  expect(again.text).toBe(first.text);
  expect(again.headers.get("idempotent-replayed")).toBe("true");
  expect(await queueRows(server)).toHaveLength(1);
});

test("bulk responses are replayed verbatim, errors list included", async () => {
  const key = crypto.randomUUID();
  const body = { events: [event(1), { name: "no user" }, event(2)] };
  const first = await post(server, "/api/v1/events/bulk", body, withKey(key));
  expect(first.status).toBe(200);
  expect(first.json.data).toMatchObject({ accepted: 2, rejected: 1 });
  const again = await post(server, "/api/v1/events/bulk", body, withKey(key));
  expect({ status: again.status, text: again.text }).toEqual({ status: 200, text: first.text });
  expect(await queueRows(server)).toHaveLength(2);
});

test("same key, different body (or endpoint): 409 idempotency_key_reuse", async () => {
  const key = crypto.randomUUID();
  expect((await post(server, "/api/v1/events", event(1), withKey(key))).status).toBe(202);
  const other = await post(server, "/api/v1/events", event(2), withKey(key));
  expect(other.status).toBe(409);
  expect(other.json).toEqual({ errors: [{ code: "idempotency_key_reuse", message: expect.any(String) }] });
  const otherPath = await post(server, "/api/v1/events/batch", { events: [event(1)] }, withKey(key));
  expect(otherPath.status).toBe(409);
  expect(otherPath.json.errors[0].code).toBe("idempotency_key_reuse");
  expect(await queueRows(server)).toHaveLength(1);
});

test("same key while the first request is in flight: 409 idempotency_key_in_use; then the first completes", async () => {
  const key = crypto.randomUUID();
  // Hold the write lock, as a long normaliser transaction would: the first request waits for its commit.
  const lock = await holdWriteLock(server.ctx.database);
  const first = post(server, "/api/v1/events", event(1), withKey(key));
  await waitFor(() => ingestWriterFor(server.ctx).pendingJobs === 1);
  const second = await post(server, "/api/v1/events", event(1), withKey(key));
  expect(second.status).toBe(409);
  expect(second.json.errors[0].code).toBe("idempotency_key_in_use");
  await lock.release();
  expect((await first).status).toBe(202);
  const third = await post(server, "/api/v1/events", event(1), withKey(key));
  expect(third.status).toBe(202);
  expect(third.headers.get("idempotent-replayed")).toBe("true");
  expect(await queueRows(server)).toHaveLength(1);
});

test("a rejected request (4xx) does not consume its key: the corrected retry goes through", async () => {
  const key = crypto.randomUUID();
  const bad = await post(server, "/api/v1/events", { ...event(1), name: "" }, withKey(key));
  expect(bad.status).toBe(422);
  const notJson = await post(server, "/api/v1/events", "{oops", withKey(key));
  expect(notJson.status).toBe(400);
  const good = await post(server, "/api/v1/events", event(1), withKey(key));
  expect(good.status).toBe(202);
  expect(good.headers.get("idempotent-replayed")).toBeNull();
  expect(await queueRows(server)).toHaveLength(1);
});

test("a stored key answers before the body is checked: a retry that is not JSON or not valid gets 409, not 400/422", async () => {
  const key = crypto.randomUUID();
  expect((await post(server, "/api/v1/events", event(1), withKey(key))).status).toBe(202);
  for (const body of ["{oops", { ...event(1), name: "" }]) {
    const retry = await post(server, "/api/v1/events", body, withKey(key));
    expect(retry.status).toBe(409);
    expect(retry.json.errors[0].code).toBe("idempotency_key_reuse");
  }
  expect(await queueRows(server)).toHaveLength(1);
});

test("a bulk request's retry is replayed even while the backfill queue is full", async () => {
  const full = await startTestServer("[ingest]\nbackfill_queue_limit = 2\n", { background: false });
  try {
    const key = crypto.randomUUID();
    const body = { events: [event(1), event(2)] };
    const first = await post(full, "/api/v1/events/bulk", body, withKey(key));
    expect(first.status).toBe(200);
    expect((await post(full, "/api/v1/events/bulk", { events: [event(3)] })).status).toBe(429); // the queue is full
    const again = await post(full, "/api/v1/events/bulk", body, withKey(key));
    expect({ status: again.status, text: again.text, replayed: again.headers.get("idempotent-replayed") }).toEqual({ status: 200, text: first.text, replayed: "true" });
    expect(await queueRows(full)).toHaveLength(2);
  } finally {
    await full.close();
  }
});

test("a request that passes its checks is looked up in its commit, not before it: one read less per request", async () => {
  const lookups = spyOn(IdempotencyStore.prototype, "find");
  try {
    const key = crypto.randomUUID();
    expect((await post(server, "/api/v1/events", event(1), withKey(key))).status).toBe(202);
    const replayed = await post(server, "/api/v1/events", event(1), withKey(key));
    expect(replayed.headers.get("idempotent-replayed")).toBe("true");
    expect((await post(server, "/api/v1/events", event(2), withKey(key))).status).toBe(409);
    expect(lookups).toHaveBeenCalledTimes(0);
    expect((await post(server, "/api/v1/events", "{oops", withKey(key))).status).toBe(409); // refused first: looked up
    expect(lookups).toHaveBeenCalledTimes(1);
  } finally {
    lookups.mockRestore();
  }
});

test("keys are per project", async () => {
  const other = await startTestServer(`[[projects]]\nid = "a"\n[[projects]]\nid = "b"\n`, { background: false, project: "a" });
  try {
    const { key: keyB } = await createKey(other.ctx.database, "b", "b");
    const key = crypto.randomUUID();
    expect((await post(other, "/api/v1/events", event(1), withKey(key))).status).toBe(202);
    const inB = await post({ url: other.url, apiKey: keyB }, "/api/v1/events", event(2), withKey(key));
    expect(inB.status).toBe(202);
    expect(inB.headers.get("idempotent-replayed")).toBeNull();
    expect((await queueRows(other)).map((r) => r.project_id)).toEqual(["a", "b"]);
  } finally {
    await other.close();
  }
});

test("a malformed Idempotency-Key header is 422 on that header", async () => {
  const r = await post(server, "/api/v1/events", event(1), withKey("x".repeat(256)));
  expect(r.status).toBe(422);
  expect(r.json.errors[0]).toMatchObject({ code: "validation_failed", field: "Idempotency-Key" });
});

test("keys are remembered 24 h, then forgotten and purged", async () => {
  const t0 = Date.parse("2026-03-01T00:00:00Z");
  const clock = manualClock(t0);
  setClock(clock);
  const key = crypto.randomUUID();
  expect((await post(server, "/api/v1/events", event(1), withKey(key))).status).toBe(202);
  clock.advance(24 * 3_600_000 - 1);
  expect((await post(server, "/api/v1/events", event(2), withKey(key))).status).toBe(409);
  clock.advance(1);
  const fresh = await post(server, "/api/v1/events", event(2), withKey(key));
  expect(fresh.status).toBe(202); // the old record no longer counts; the new one replaces it
  expect(await queueRows(server)).toHaveLength(2);
  clock.advance(24 * 3_600_000);
  expect((await post(server, "/api/v1/events", event(3), withKey(crypto.randomUUID()))).status).toBe(202);
  const store = new IdempotencyStore(server.ctx.database);
  expect(await store.purge()).toBe(1);
  expect(await count(server, "idempotency_keys")).toBe(1);
});

test("keys survive a restart (same database file)", async () => {
  const { dir, cleanup } = tempDir();
  try {
    let running = await startOn(dir);
    const { key: apiKey } = await createKey(running.ctx.database, "default", "t");
    const key = crypto.randomUUID();
    const first = await post({ url: running.url, apiKey }, "/api/v1/users", { external_user_id: "u1" }, withKey(key));
    expect(first.status).toBe(202);
    await running.stop();
    running = await startOn(dir);
    const again = await post({ url: running.url, apiKey }, "/api/v1/users", { external_user_id: "u1" }, withKey(key));
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const reuse = await post({ url: running.url, apiKey }, "/api/v1/users", { external_user_id: "u2" }, withKey(key));
    expect(reuse.status).toBe(409);
    expect(Number((await running.ctx.database.read("SELECT count(*) AS n FROM ingest_queue")).rows[0]!.n)).toBe(1);
    await running.stop();
  } finally {
    cleanup();
  }
});

test("concurrent requests with keys (looked up together, in their commits) each get their own answer", async () => {
  const keys = Array.from({ length: 50 }, () => crypto.randomUUID());
  const first = await Promise.all(keys.map((k, i) => post(server, "/api/v1/events", event(i), withKey(k))));
  expect(first.map((r) => r.status)).toEqual(keys.map(() => 202));
  const again = await Promise.all(keys.map((k, i) => post(server, "/api/v1/events", event(i % 2 === 0 ? i : i + 1000), withKey(k))));
  expect(again.map((r) => r.status)).toEqual(keys.map((_, i) => (i % 2 === 0 ? 202 : 409)));
  expect(again.filter((r) => r.status === 202).every((r) => r.headers.get("idempotent-replayed") === "true")).toBe(true);
  expect(await queueRows(server)).toHaveLength(50);
  expect(await count(server, "idempotency_keys")).toBe(50);
});
