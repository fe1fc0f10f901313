import { afterAll, beforeAll, expect, test } from "bun:test";
import { endlessUpload } from "../support/endless-upload";
import type { TestServer } from "../support/harness";
import { count, drain, send, startSegmentServer } from "./support";

/**
 * Hostile and random messages: every field of a Segment message given every kind of JSON value. The server must
 * answer with a SPEC status (never 500), and whatever it accepted must be applied or quarantined by the
 * normaliser without an error — nothing stuck in the queue.
 */
let server: TestServer;
beforeAll(async () => {
  server = await startSegmentServer();
});
afterAll(() => server.close());

// A small seeded generator, so a failure can be reproduced.
let seed = 20260301;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;

function value(depth = 0): unknown {
  const scalars = [null, true, false, 0, -1, 1e308, 1.5, "", "x", "Signed Up", "2026-01-01T00:00:00Z", "not a time", "$x", "vf_y", "__proto__", "a".repeat(300)];
  if (depth > 2 || rand() < 0.6) return pick(scalars);
  if (rand() < 0.5) return Array.from({ length: Math.floor(rand() * 3) }, () => value(depth + 1));
  const obj: Record<string, unknown> = {};
  for (let i = 0; i < 3; i++) obj[pick(["email", "company", "name", "firstName", "createdAt", "trial_end_date", "feature", "invitee_email", "plan_name", "__proto__", "constructor", "k"])] = value(depth + 1);
  return obj;
}

function message(): Record<string, unknown> {
  const m: Record<string, unknown> = { type: pick(["track", "identify", "page", "alias", undefined, 7, "TRACK"]) };
  for (const field of ["userId", "anonymousId", "event", "properties", "traits", "timestamp", "sentAt", "receivedAt", "messageId", "context", "writeKey"]) {
    if (rand() < 0.7) m[field] = field === "event" && rand() < 0.5 ? pick(["Signed Up", "Trial Started", "Feature Used", "Invite Sent", "Onboarding Step Completed", "Subscription Changed", "Trial Ending"]) : value();
  }
  if (rand() < 0.5) m.userId = pick(["h-1", "h-2", 42]);
  return m;
}

test("random and hostile messages get SPEC statuses, and the normaliser applies or quarantines all of them", async () => {
  const statuses = new Map<number, number>();
  for (let i = 0; i < 150; i++) {
    const path = pick(["/v1/batch", "/v1/batch", "/v1/track", "/v1/identify", "/v1/page"]);
    const body = path === "/v1/batch" ? { batch: Array.from({ length: 1 + Math.floor(rand() * 8) }, message), sentAt: value() } : message();
    const res = await send(server, path, body);
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    expect([200, 413, 422]).toContain(res.status);
    if (res.status !== 200) expect(Array.isArray(res.json.errors)).toBe(true);
  }
  expect(statuses.get(200)).toBeGreaterThan(50);
  const stats = await drain(server);
  expect(stats.errors).toBe(0);
  expect(await count(server.ctx.database, "SELECT count(*) AS n FROM ingest_queue")).toBe(0);
  expect(stats.quarantined).toBeGreaterThan(0);
});

test("a __proto__ key stays data: it neither pollutes prototypes nor breaks the mapping", async () => {
  const body = '{"batch":[{"type":"identify","userId":"proto","traits":{"__proto__":{"polluted":true},"company":{"__proto__":{"x":1},"name":"Evil"}}},' +
    '{"type":"track","userId":"proto","event":"Clicked","properties":{"__proto__":{"polluted":true}}}]}';
  expect((await send(server, "/v1/batch", body)).status).toBe(200);
  await drain(server);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  const user = (await server.ctx.database.read("SELECT company FROM tracked_users WHERE external_user_id = 'proto'")).rows[0];
  expect(user?.company).toBe("Evil");
});

test("what cannot be stored as sent is refused per request, and never fails the requests committed beside it", async () => {
  const nest = (levels: number): unknown => (levels === 0 ? 1 : { a: nest(levels - 1) });
  // Nested past the limit (and far past SQLite's 1,000-level JSON limit), alongside valid requests.
  const deep = { userId: "deep", event: "Deep", context: nest(1_200) };
  const valid = Array.from({ length: 20 }, (_, i) => send(server, "/v1/track", { userId: `ok-${i}`, event: "Clicked", messageId: `deep-side-${i}` }));
  const refused = await Promise.all([send(server, "/v1/track", deep), send(server, "/v1/batch", { batch: [{ type: "track", ...deep }] })]);
  expect(refused.map((r) => [r.status, r.json.errors[0].code, r.json.errors[0].field])).toEqual([
    [422, "validation_failed", "body"],
    [422, "validation_failed", "batch[0]"],
  ]);
  expect((await Promise.all(valid)).map((r) => r.status)).toEqual(Array(20).fill(200));
  // 1e999 parses as Infinity: refused, not stored as null.
  const big = await send(server, "/v1/track", '{"userId":"n","event":"N","properties":{"x":1e999}}');
  expect([big.status, big.json.errors[0].code]).toEqual([422, "validation_failed"]);
  // A lone surrogate escape is not Unicode text: 400, as on /api/v1.
  const lone = await send(server, "/v1/identify", '{"userId":"s","traits":{"name":"x\\ud800"}}');
  expect([lone.status, lone.json.errors[0].code]).toEqual([400, "invalid_json"]);
  await drain(server);
  expect(await count(server.ctx.database, "SELECT count(*) AS n FROM events WHERE name = 'deep'")).toBe(0);
});

test("a batch message nested 100,000 deep (200 KB: under the batch limit) is refused like any too-deep one, not a 500", async () => {
  const body = `{"batch":[{"type":"track","userId":"u","event":"X","properties":{"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}}]}`;
  const r = await send(server, "/v1/batch", body);
  expect([r.status, r.json.errors[0].code, r.json.errors[0].field]).toEqual([422, "validation_failed", "batch[0]"]);
});

test("event names that are Object.prototype's keys are custom events, not a 500 (constructor, toString, __proto__)", async () => {
  const names = ["constructor", " CONSTRUCTOR ", "toString", "hasOwnProperty", "__proto__", "valueOf"];
  const r = await send(server, "/v1/batch", { batch: names.map((event, i) => ({ type: "track", userId: "protoname", event, messageId: `pn-${i}` })) });
  expect(r.status).toBe(200);
  await drain(server);
  // Not identified yet: the events wait in the buffer, under their snake_cased names.
  const buffered = (await server.ctx.database.read("SELECT payload ->> '$.name' AS name FROM event_buffer WHERE external_user_id = 'protoname' ORDER BY id")).rows;
  expect(buffered.map((row) => row.name)).toEqual(["constructor", "constructor", "to_string", "has_own_property", "proto", "value_of"]);
});

test("a chunked upload that never ends → 413 once it passes 500 KB, not after buffering it", async () => {
  const basic = `Basic ${Buffer.from(`${server.apiKey}:`).toString("base64")}`;
  const r = await endlessUpload(server.url, "/v1/batch", { authorization: basic, "content-type": "application/json" });
  expect(r.status).toBe(413);
  expect(JSON.parse(r.body).errors[0].code).toBe("payload_too_large");
  expect(r.sentBytes).toBeLessThan(8 * 1024 * 1024);
});
