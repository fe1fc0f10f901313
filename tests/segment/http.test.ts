import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import { ingestCounters } from "../../src/ingest";
import type { TestServer } from "../support/harness";
import { basic, drain, mid, queueDepth, rows, send, startSegmentServer } from "./support";

/** The HTTP surface with plain fetch: auth, limits, encodings, error envelopes, ignored types. */
let server: TestServer;
beforeAll(async () => {
  server = await startSegmentServer();
});
afterAll(() => server.close());
beforeEach(async () => {
  await drain(server);
});

const track = (extra: Record<string, unknown> = {}) => ({ userId: "h1", event: "Clicked", messageId: mid(), ...extra });
const db = () => server.ctx.database;

test("HTTP Basic with the key as user name: 200 {success:true}, and the row is in the queue before the answer", async () => {
  const res = await send(server, "/v1/track", track());
  expect(res.status).toBe(200);
  expect(res.json).toEqual({ success: true });
  expect(res.headers.get("content-type")).toContain("application/json");
  expect(await queueDepth(db())).toBe(1);
});

test("writeKey in the body authenticates when there is no Authorization header", async () => {
  const res = await send(server, "/v1/batch", { writeKey: server.apiKey, batch: [{ type: "track", ...track() }] }, { auth: null });
  expect(res.status).toBe(200);
  expect(await queueDepth(db())).toBe(1);
});

test("a Bearer header works too; a password after the colon is ignored", async () => {
  expect((await send(server, "/v1/track", track(), { auth: `Bearer ${server.apiKey}` })).status).toBe(200);
  const withPassword = `Basic ${Buffer.from(`${server.apiKey}:anything`).toString("base64")}`;
  expect((await send(server, "/v1/track", track(), { auth: withPassword })).status).toBe(200);
  expect(await queueDepth(db())).toBe(2);
});

test("bad, missing or revoked-looking keys are 401 auth_required and enqueue nothing", async () => {
  const bad = "sk_live_" + "y".repeat(40);
  const cases = [
    await send(server, "/v1/track", track(), { auth: basic(bad) }),
    await send(server, "/v1/track", track(), { auth: null }),
    await send(server, "/v1/batch", { writeKey: bad, batch: [track({ type: "track" })] }, { auth: null }),
    // A bad header key is not rescued by a good body key.
    await send(server, "/v1/batch", { writeKey: server.apiKey, batch: [track({ type: "track" })] }, { auth: basic(bad) }),
    await send(server, "/v1/track", track(), { auth: "Basic !!!" }),
  ];
  for (const res of cases) {
    expect(res.status).toBe(401);
    expect(res.json.errors[0].code).toBe("auth_required");
  }
  expect(cases[0]!.headers.get("www-authenticate")).toContain("Basic");
  expect(await queueDepth(db())).toBe(0);
});

test("page, screen, group and alias are accepted and ignored after auth; unknown batch types too", async () => {
  for (const type of ["page", "screen", "group", "alias"]) {
    const res = await send(server, `/v1/${type}`, { userId: "h2", name: "x", groupId: "g", previousId: "p" });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ success: true });
    expect((await send(server, `/v1/${type}`, { userId: "h2" }, { auth: null })).status).toBe(401);
    // Ignored whatever the body holds, JSON or not (with the key in the header; a writeKey needs a JSON body).
    expect((await send(server, `/v1/${type}`, "{not json")).status).toBe(200);
    expect((await send(server, `/v1/${type}`, "")).status).toBe(200);
  }
  const batch = [{ type: "page", userId: "h2" }, { type: "screen", userId: "h2" }, { type: "something_new", userId: "h2" }, { type: "track", ...track({ userId: "h2" }) }];
  expect((await send(server, "/v1/batch", { batch })).status).toBe(200);
  expect(await queueDepth(db())).toBe(1);
});

test("invalid JSON, a non-object body and a batch that is not an array are 400 invalid_json", async () => {
  for (const [path, body] of [["/v1/track", "{not json"], ["/v1/track", "[1,2]"], ["/v1/batch", '{"batch": {"type":"track"}}'], ["/v1/batch", new Uint8Array([0x7b, 0xff, 0x7d])]] as const) {
    const res = await send(server, path, body);
    expect(res.status).toBe(400);
    expect(res.json.errors[0].code).toBe("invalid_json");
  }
  expect(await queueDepth(db())).toBe(0);
});

test("a batch element that is not an object is 422 and the whole batch is refused", async () => {
  const notObject = await send(server, "/v1/batch", { batch: [{ type: "track", ...track() }, 42] });
  expect(notObject.status).toBe(422);
  expect(notObject.json.errors).toEqual([{ code: "validation_failed", message: expect.any(String), field: "batch[1]" }]);
  expect(await queueDepth(db())).toBe(0);
});

test("a reserved event name ($pageview, vf_…) is 200 and goes to quarantine; the rest of its batch is applied", async () => {
  const reserved = await send(server, "/v1/batch", {
    batch: [
      { type: "identify", userId: "res-1", messageId: mid() },
      { type: "track", ...track({ event: "kept_event", userId: "res-1" }) },
      { type: "track", ...track({ event: "vf_internal", userId: "res-1" }) },
    ],
  });
  expect([reserved.status, reserved.json]).toEqual([200, { success: true }]);
  expect((await send(server, "/v1/track", track({ event: "$pageview", userId: "res-1" }))).status).toBe(200);
  await drain(server);
  expect((await rows(db(), "SELECT name FROM events WHERE name IN ('kept_event', 'vf_internal', '$pageview')")).map((r) => r.name)).toEqual(["kept_event"]);
  const kept = await rows(db(), "SELECT reason, detail FROM quarantine WHERE payload LIKE '%vf_internal%' OR payload LIKE '%$pageview%' ORDER BY rowid");
  expect(kept.map((r) => r.reason)).toEqual(["invalid_payload", "invalid_payload"]);
  expect(String(kept[0]!.detail)).toContain("is reserved");
});

test("limits: 32 KB per message, 500 KB per batch (413 payload_too_large), just under is fine", async () => {
  const pad = (bytes: number) => "a".repeat(bytes);
  const big = await send(server, "/v1/track", track({ properties: { blob: pad(33 * 1024) } }));
  expect(big.status).toBe(413);
  expect(big.json.errors[0].code).toBe("payload_too_large");
  expect((await send(server, "/v1/track", track({ properties: { blob: pad(31 * 1024) } }))).status).toBe(200);

  const bigInBatch = await send(server, "/v1/batch", { batch: [{ type: "track", ...track() }, { type: "track", ...track({ properties: { blob: pad(33 * 1024) } }) }] });
  expect(bigInBatch.status).toBe(413);
  expect(bigInBatch.json.errors[0].field).toBe("batch[1]");

  const msgs = (n: number) => Array.from({ length: n }, () => ({ type: "track", ...track({ properties: { blob: pad(30 * 1024) } }) }));
  const tooBig = await send(server, "/v1/batch", { batch: msgs(17) }); // ≈ 510 KB
  expect(tooBig.status).toBe(413);
  expect((await send(server, "/v1/batch", { batch: msgs(16) })).status).toBe(200); // ≈ 480 KB
  expect(await queueDepth(db())).toBe(1 + 16);
});

test("gzip bodies are accepted; the limit applies to the inflated size; other encodings are 415", async () => {
  const res = await send(server, "/v1/batch", { batch: [{ type: "track", ...track({ userId: "gz" }) }] }, { gzip: true });
  expect(res.status).toBe(200);
  expect(await queueDepth(db())).toBe(1);

  // 2 MB of one letter compresses to a few KB: the inflated size is what counts.
  const bomb = await send(server, "/v1/batch", { batch: [{ type: "track", ...track({ properties: { blob: "a".repeat(2_000_000) } }) }] }, { gzip: true });
  expect(bomb.status).toBe(413);
  const notGzip = await send(server, "/v1/track", "definitely not gzip", { headers: { "content-encoding": "gzip" } });
  expect(notGzip.status).toBe(400);
  const brotli = await send(server, "/v1/track", track(), { headers: { "content-encoding": "br" } });
  expect(brotli.status).toBe(415);
  expect(await queueDepth(db())).toBe(1);
});

test("any content type is accepted (Segment senders vary), as long as the body is JSON", async () => {
  expect((await send(server, "/v1/track", track(), { headers: { "content-type": "text/plain" } })).status).toBe(200);
  expect(await queueDepth(db())).toBe(1);
});

test("an empty batch is 200 and writes nothing", async () => {
  expect((await send(server, "/v1/batch", { batch: [] })).status).toBe(200);
  expect(await queueDepth(db())).toBe(0);
});

test("responses are counted for /metrics by endpoint and status", async () => {
  const before = ingestCounters.get("segment_track", 401);
  await send(server, "/v1/track", track(), { auth: null });
  expect(ingestCounters.get("segment_track", 401)).toBe(before + 1);
});

test("rate limit: 429 rate_limited with Retry-After once the project's bucket is empty", async () => {
  const limited = await startSegmentServer('[ingest]\nrate_limits = { segment = { per_second = 1, burst = 2 } }\n');
  try {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 4; i++) {
      const res = await send(limited, "/v1/track", track());
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get("retry-after");
    }
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses.slice(2)).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  } finally {
    await limited.close();
  }
});

test("the same body gzipped and plain gives the same queue payload", async () => {
  const body = { batch: [{ type: "track", userId: "same", event: "Clicked", messageId: "gz-plain-1", timestamp: "2026-01-01T00:00:00Z" }] };
  await send(server, "/v1/batch", body);
  const plain = (await server.ctx.database.read("SELECT payload FROM ingest_queue ORDER BY seq DESC LIMIT 1")).rows[0]!.payload;
  await drain(server);
  await send(server, "/v1/batch", JSON.stringify({ batch: [{ ...body.batch[0], messageId: "gz-plain-2" }] }), { gzip: true });
  const zipped = (await server.ctx.database.read("SELECT payload FROM ingest_queue ORDER BY seq DESC LIMIT 1")).rows[0]!.payload;
  expect(String(zipped).replace("gz-plain-2", "gz-plain-1")).toBe(String(plain));
});
