import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ingestCounters } from "../../src/ingest";
import { createKey, revokeKey } from "../../src/keys/service";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { startTestServer, type TestServer } from "../support/harness";
import { event, post, queueRows } from "./support";

// Auth (401), rate limits (429 + Retry-After), the backfill limit on bulk endpoints, and 500 server_error.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(
    `[ingest]\nbackfill_queue_limit = 5\nrate_limits = { users = { per_second = 1, burst = 2 } }\n`,
    { background: false },
  );
});
afterAll(() => server.close());
afterEach(() => setClock(systemClock));

function expectAuth(r: { status: number; json: any; headers: Headers }) {
  expect(r.status).toBe(401);
  expect(r.json).toEqual({ errors: [{ code: "auth_required", message: expect.any(String) }] });
  expect(r.headers.get("www-authenticate")).toBe("Bearer");
}

test("no key, malformed keys, unknown keys, keys in the query string → 401 auth_required", async () => {
  expectAuth(await post(server, "/api/v1/events", event(), { authorization: "" }));
  for (const header of ["Bearer", "Bearer ", `Basic ${btoa(server.apiKey + ":")}`, server.apiKey, "Bearer sk_live_short", `Bearer ${server.apiKey}x`, `Bearer sk_live_${"a".repeat(40)}`]) {
    expectAuth(await post(server, "/api/v1/events", event(), { authorization: header }));
  }
  const inQuery = await fetch(`${server.url}/api/v1/events?api_key=${server.apiKey}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(event()) });
  expect(inQuery.status).toBe(401);
  // Auth comes first: even a bad body from an unknown caller is just 401.
  expectAuth(await post(server, "/api/v1/events/batch", "{nope", { authorization: "" }));
  expect((await post(server, "/api/v1/events", event(), { authorization: `bearer ${server.apiKey}` })).status).toBe(202);
});

test("a revoked key is refused at once", async () => {
  const created = await createKey(server.ctx.database, "default", "to revoke");
  const who = { url: server.url, apiKey: created.key };
  expect((await post(who, "/api/v1/events", event())).status).toBe(202);
  expect(await revokeKey(server.ctx.database, created.id, { verifier: server.ctx.keys })).toBe(true);
  expectAuth(await post(who, "/api/v1/events", event()));
  expect((await post(server, "/api/v1/events", event())).status).toBe(202); // other keys unaffected
});

test("a burst of requests with a key not verified yet costs one Argon2id check; every request is answered", async () => {
  const created = await createKey(server.ctx.database, "default", "burst");
  const who = { url: server.url, apiKey: created.key };
  const keys = server.ctx.keys;
  const verify = keys.verify.bind(keys);
  let checks = 0;
  keys.verify = (key: string) => {
    checks++;
    return verify(key);
  };
  try {
    const statuses = await Promise.all(Array.from({ length: 20 }, () => post(who, "/api/v1/events", event()).then((r) => r.status)));
    expect(statuses).toEqual(Array(20).fill(202));
    expect(checks).toBe(1);
    // Verified once, the key is answered from the cache: no further check.
    expect((await post(who, "/api/v1/events", event())).status).toBe(202);
    expect(checks).toBe(1);
  } finally {
    keys.verify = verify;
  }
});

test("a key of a project no longer in the configuration is refused (its items could only go to quarantine)", async () => {
  // The project was configured once (its row stays), then removed from the configuration.
  await server.ctx.database.execute("INSERT INTO projects (id, name, created_at) VALUES ('removed', 'Removed', 0) ON CONFLICT DO NOTHING");
  const created = await createKey(server.ctx.database, "removed", "left behind");
  expectAuth(await post({ url: server.url, apiKey: created.key }, "/api/v1/events", event()));
  expect((await post(server, "/api/v1/events", event())).status).toBe(202);
});

test("the key's last use is recorded", async () => {
  const rs = await server.ctx.database.read("SELECT last_used_at FROM api_keys WHERE name = 'test'");
  expect(Number(rs.rows[0]!.last_used_at)).toBeGreaterThan(0);
});

test("rate limit per project and endpoint: 429 rate_limited with Retry-After, refilled with time", async () => {
  const clock = manualClock(Date.parse("2026-04-01T00:00:00Z"));
  setClock(clock);
  const user = { external_user_id: "u" };
  expect((await post(server, "/api/v1/users", user)).status).toBe(202);
  expect((await post(server, "/api/v1/users", user)).status).toBe(202);
  const limited = await post(server, "/api/v1/users", user);
  expect(limited.status).toBe(429);
  expect(limited.json).toEqual({ errors: [{ code: "rate_limited", message: expect.any(String) }] });
  expect(limited.headers.get("retry-after")).toBe("1");
  // Other endpoints have their own bucket (the generous default).
  expect((await post(server, "/api/v1/events", event())).status).toBe(202);
  clock.advance(1000);
  expect((await post(server, "/api/v1/users", user)).status).toBe(202);
  expect((await post(server, "/api/v1/users", user)).status).toBe(429);
});

test("bulk endpoints answer 429 backfill_queue_full while the project has ≥ backfill_queue_limit items queued", async () => {
  await server.ctx.database.execute("DELETE FROM ingest_queue");
  const bulk = await post(server, "/api/v1/events/bulk", { events: [event(1), event(2), event(3), event(4)] });
  expect(bulk.json.data.accepted).toBe(4);
  expect((await post(server, "/api/v1/events/bulk", { events: [event(5)] })).status).toBe(200); // 4 queued < 5
  const full = await post(server, "/api/v1/events/bulk", { events: [event(6)] });
  expect(full.status).toBe(429);
  expect(full.json.errors[0].code).toBe("backfill_queue_full");
  expect(Number(full.headers.get("retry-after"))).toBeGreaterThan(0);
  const fullUsers = await post(server, "/api/v1/users/bulk", { users: [{ external_user_id: "x" }] });
  expect(fullUsers.json.errors[0].code).toBe("backfill_queue_full");
  // Live traffic is not held back by a backfill.
  expect((await post(server, "/api/v1/events", event(7))).status).toBe(202);
  expect((await post(server, "/api/v1/events/batch", { events: [event(8)] })).status).toBe(202);
  await server.ctx.database.execute("DELETE FROM ingest_queue");
  expect((await post(server, "/api/v1/events/bulk", { events: [event(9)] })).status).toBe(200);
});

test("responses are counted by endpoint and status", async () => {
  const before = ingestCounters.get("events", 202);
  const beforeBad = ingestCounters.get("events", 400);
  await post(server, "/api/v1/events", event());
  await post(server, "/api/v1/events", "[]");
  expect(ingestCounters.get("events", 202)).toBe(before + 1);
  expect(ingestCounters.get("events", 400)).toBe(beforeBad + 1);
  expect(ingestCounters.snapshot()).toContainEqual({ endpoint: "users", status: 429, count: expect.any(Number) });
});

test("an internal failure is 500 server_error with no stack trace or SQL; nothing is acknowledged", async () => {
  const broken = await startTestServer("", { background: false });
  try {
    await broken.ctx.database.execute("DROP TABLE ingest_queue");
    const r = await post(broken, "/api/v1/events", event(), { "idempotency-key": "k1" });
    expect(r.status).toBe(500);
    expect(r.json).toEqual({ errors: [{ code: "server_error", message: expect.stringMatching(/^Internal error \(request [0-9a-f-]+\)\.$/) }] });
    expect(r.text).not.toMatch(/ingest_queue|SQLITE|at .*\.ts/);
    // The key was not consumed by the failure.
    await broken.ctx.database.execute("CREATE TABLE ingest_queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, project_id TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL, payload TEXT NOT NULL, received_at INTEGER NOT NULL)");
    expect((await post(broken, "/api/v1/events", event(), { "idempotency-key": "k1" })).status).toBe(202);
    expect(await queueRows(broken)).toHaveLength(1);
  } finally {
    await broken.close();
  }
});

test("a key revoked with the CLI while the server runs is refused on the next request (SPEC §3: revoked → 401)", async () => {
  const { id, key } = await createKey(server.ctx.database, "default", "revoked-by-cli");
  const send = () => post({ url: server.url, apiKey: key }, "/api/v1/events", event(1));
  expect((await send()).status).toBe(202);
  const toml = join(server.dir, "cli.toml");
  writeFileSync(toml, `[database]\nurl = "file:${join(server.dir, "vf.db")}"\n`);
  const cli = Bun.spawn([process.execPath, join(import.meta.dir, "../../src/cli/index.ts"), "keys", "revoke", id, "--config", toml], {
    stdout: "ignore",
    stderr: "inherit",
    env: { ...process.env, VIBEFOLLOW_LOG: "silent" },
  });
  expect(await cli.exited).toBe(0);
  expectAuth(await send());
});
