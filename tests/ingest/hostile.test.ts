import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import { endlessUpload } from "../support/endless-upload";
import { startTestServer, type TestServer } from "../support/harness";
import { connect } from "node:net";
import { event, post, queueRows } from "./support";

// Hostile and malformed bodies: each gets the SPEC's status and envelope, never a 500, never a pollution.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer("", { background: false });
});
afterAll(() => server.close());
beforeEach(() => server.ctx.database.execute("DELETE FROM ingest_queue"));

const PATHS = ["/api/v1/users", "/api/v1/users/bulk", "/api/v1/events", "/api/v1/events/batch", "/api/v1/events/bulk"];

function expectError(r: { status: number; json: any }, status: number, code: string) {
  expect({ status: r.status, code: r.json?.errors?.[0]?.code }).toEqual({ status, code });
  expect(Object.keys(r.json)).toEqual(["errors"]);
}

test("bodies that are not a JSON object → 400 invalid_json on every endpoint", async () => {
  for (const path of PATHS) {
    for (const body of ["", "{", "nul", "[]", "[{}]", "null", "42", '"str"', "true", "{'a':1}", '{"a":1}}', "\u0000"]) {
      expectError(await post(server, path, body), 400, "invalid_json");
    }
  }
  expect(await queueRows(server)).toHaveLength(0);
});

test("invalid UTF-8 bytes → 400 invalid_json (not silently replaced)", async () => {
  const prefix = new TextEncoder().encode('{"external_user_id":"u","name":"x","properties":{"s":"');
  const suffix = new TextEncoder().encode('"}}');
  for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
    const body = new Uint8Array([...prefix, ...bad, ...suffix]);
    expectError(await post(server, "/api/v1/events", body), 400, "invalid_json");
  }
  const good = new Uint8Array([...prefix, ...new TextEncoder().encode("héllo ✓ 𝄞"), ...suffix]);
  expect((await post(server, "/api/v1/events", good)).status).toBe(202);
  expect(((await queueRows(server))[0]!.payload as any).properties.s).toBe("héllo ✓ 𝄞");
});

test("a lone UTF-16 surrogate escape (\\ud800) in any string or key → 400 invalid_json; escaped pairs are fine", async () => {
  const bodies: [string, string][] = [
    ["/api/v1/events", '{"external_user_id":"u","name":"clicked\\ud800"}'],
    ["/api/v1/events", '{"external_user_id":"\\udc00","name":"x"}'],
    ["/api/v1/events", '{"external_user_id":"u","name":"x","properties":{"a":["ok","\\ud83d"]}}'],
    ["/api/v1/users", '{"external_user_id":"u","traits":{"\\ud800key":1}}'],
    ["/api/v1/events/batch", '{"events":[{"external_user_id":"u","name":"x","properties":{"s":"\\uDBFF"}}]}'],
  ];
  for (const [path, body] of bodies) {
    const r = await post(server, path, body);
    expect({ body, status: r.status, code: r.json.errors?.[0]?.code }).toEqual({ body, status: 400, code: "invalid_json" });
  }
  expect(await queueRows(server)).toEqual([]);
  // An escaped pair is one well-formed character (😀).
  expect((await post(server, "/api/v1/events", '{"external_user_id":"u","name":"x","properties":{"e":"\\ud83d\\ude00"}}')).status).toBe(202);
  expect(((await queueRows(server))[0]!.payload as any).properties.e).toBe("😀");
});

test("a Content-Encoding other than identity → 415 unsupported_media_type, not a misleading 400 or a silent 202", async () => {
  const { gzipSync } = await import("node:zlib");
  const json = JSON.stringify({ external_user_id: "u", name: "x" });
  for (const [encoding, body] of [["gzip", gzipSync(json)], ["br", json], ["deflate", json]] as const) {
    expectError(await post(server, "/api/v1/events", body, { "content-encoding": encoding }), 415, "unsupported_media_type");
  }
  expect((await post(server, "/api/v1/events", json, { "content-encoding": "identity" })).status).toBe(202);
  expect(await queueRows(server)).toHaveLength(1);
});

test("wrong content type → 415 unsupported_media_type", async () => {
  for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1", "application/jsonx", ""]) {
    expectError(await post(server, "/api/v1/events", event(), { "content-type": type }), 415, "unsupported_media_type");
  }
  expect((await post(server, "/api/v1/events", event(), { "content-type": "Application/JSON; charset=UTF-8" })).status).toBe(202);
});

test("a body over 1 MiB → 413 payload_too_large, with or without Content-Length", async () => {
  const big = JSON.stringify({ external_user_id: "u", name: "x", properties: { s: "a".repeat(1024 * 1024) } });
  expectError(await post(server, "/api/v1/events", big), 413, "payload_too_large");
  // Streamed (chunked) body: no Content-Length to trust, the size is checked after reading.
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode(big));
      c.close();
    },
  });
  const res = await fetch(server.url + "/api/v1/events", { method: "POST", body: stream, headers: { authorization: `Bearer ${server.apiKey}`, "content-type": "application/json" } });
  expect(res.status).toBe(413);
  expect((await res.json()).errors[0].code).toBe("payload_too_large");
  // Just under the limit is fine.
  const fits = JSON.stringify({ external_user_id: "u", name: "x", properties: { s: "a".repeat(1024 * 1024 - 100) } });
  expect((await post(server, "/api/v1/events", fits)).status).toBe(202);
  // Far over the limit (10 MiB) still gets the envelope, not a bare 413 from the HTTP layer.
  const huge = JSON.stringify({ external_user_id: "u", name: "x", properties: { s: "a".repeat(10 * 1024 * 1024) } });
  expectError(await post(server, "/api/v1/events", huge), 413, "payload_too_large");
});

test("a chunked upload that never ends → 413 payload_too_large once it passes 1 MiB, not after buffering it", async () => {
  const r = await endlessUpload(server.url, "/api/v1/events", { authorization: `Bearer ${server.apiKey}`, "content-type": "application/json" });
  expect(r.status).toBe(413);
  expect(JSON.parse(r.body).errors[0].code).toBe("payload_too_large");
  expect(r.sentBytes).toBeLessThan(8 * 1024 * 1024);
  expect(await queueRows(server)).toHaveLength(0);
});

test("hostile nesting: 100k-deep arrays are refused cleanly, not a crash", async () => {
  const deep = "[".repeat(100_000) + "]".repeat(100_000);
  const inProps = `{"external_user_id":"u","name":"x","properties":{"a":${deep}}}`;
  const r = await post(server, "/api/v1/events", inProps);
  expect([400, 422]).toContain(r.status);
  expect(r.json.errors[0].code).toBe(r.status === 400 ? "invalid_json" : "validation_failed");
  // Deep garbage in an unknown top-level field is ignored, never stored.
  const ignored = await post(server, "/api/v1/events", `{"external_user_id":"u","name":"x","junk":${"[".repeat(5000) + "]".repeat(5000)}}`);
  expect(ignored.status).toBe(202);
  expect((await queueRows(server)).map((row) => row.payload)).toEqual([{ external_user_id: "u", name: "x" }]);
});

test("wrong types everywhere → 422 with the field, never 500", async () => {
  const bodies: [string, unknown, string][] = [
    ["/api/v1/events", { external_user_id: {}, name: "x" }, "external_user_id"],
    ["/api/v1/events", { external_user_id: "u", name: null }, "name"],
    ["/api/v1/events", { external_user_id: "u", name: "x", timestamp: {} }, "timestamp"],
    ["/api/v1/users", { external_user_id: ["u"] }, "external_user_id"],
    ["/api/v1/users", { external_user_id: "u", email: ["a@b.co"] }, "email"],
    ["/api/v1/events/batch", { events: "all" }, "events"],
    ["/api/v1/events/batch", { events: [null] }, "events[0]"],
    ["/api/v1/events/batch", { events: { 0: event() } }, "events"],
    ["/api/v1/users/bulk", { users: 5 }, "users"],
  ];
  for (const [path, body, field] of bodies) {
    const r = await post(server, path, body);
    expect({ path, status: r.status, field: r.json.errors[0].field }).toEqual({ path, status: 422, field });
  }
});

test("an object whose `length` cannot be compared, where a string or list belongs → 422 with the field, not a 500", async () => {
  // zod's own length checks run on anything with a `length` and throw on this one (toString is not a function).
  const odd = { length: { toString: 1, valueOf: 1 } };
  const bodies: [string, unknown, string][] = [
    ["/api/v1/users", { external_user_id: odd }, "external_user_id"],
    ["/api/v1/users", { external_user_id: "u", email: odd }, "email"],
    ["/api/v1/events", { external_user_id: "u", name: odd }, "name"],
    ["/api/v1/events/batch", { events: odd }, "events"],
    ["/api/v1/events/batch", { events: [{ external_user_id: odd, name: "x" }] }, "events[0].external_user_id"],
    ["/api/v1/events/bulk", { events: odd }, "events"],
    ["/api/v1/users/bulk", { users: odd }, "users"],
  ];
  for (const [path, body, field] of bodies) {
    const r = await post(server, path, body);
    expect({ path, status: r.status, field: r.json.errors?.[0]?.field }).toEqual({ path, status: 422, field });
  }
  // In a bulk request it is one record's error; the others still go in.
  const bulk = await post(server, "/api/v1/events/bulk", { events: [event(1), { external_user_id: odd, name: "x" }] });
  expect(bulk.status).toBe(200);
  expect(bulk.json.data).toEqual({
    accepted: 1,
    rejected: 1,
    errors: [{ index: 1, code: "validation_failed", message: "Expected a string.", field: "events[1].external_user_id" }],
  });
  expect(await queueRows(server)).toHaveLength(1);
});

test("huge strings inside the limit are stored intact; huge ids and names are refused", async () => {
  const s = "x".repeat(900_000);
  expect((await post(server, "/api/v1/events", { external_user_id: "u", name: "x", properties: { s } })).status).toBe(202);
  expect(((await queueRows(server))[0]!.payload as any).properties.s).toHaveLength(900_000);
  const r = await post(server, "/api/v1/events", { external_user_id: s.slice(0, 400_000), name: s.slice(0, 400_000) });
  expect(r.status).toBe(422);
  expect(r.json.errors.map((e: any) => e.field).sort()).toEqual(["external_user_id", "name"]);
  expect(r.text.length).toBeLessThan(2000); // the error does not echo the input
});

test("duplicate keys: the last one wins, and that is the value validated and stored", async () => {
  const r = await post(server, "/api/v1/events", '{"external_user_id":"u","name":"$bad","name":"ok","properties":{"a":1,"a":2}}');
  expect(r.status).toBe(202);
  expect((await queueRows(server))[0]!.payload).toEqual({ external_user_id: "u", name: "ok", properties: { a: 2 } });
  const bad = await post(server, "/api/v1/events", '{"external_user_id":"u","name":"ok","name":"$bad"}');
  expect(bad.status).toBe(422);
});

test("__proto__ keys never pollute: refused inside properties/traits, ignored at the top level", async () => {
  const polluted = () => ({} as any).polluted !== undefined || ({} as any).isAdmin !== undefined;
  const nested = await post(server, "/api/v1/events", '{"external_user_id":"u","name":"x","properties":{"a":{"__proto__":{"polluted":1}}}}');
  expect(nested.status).toBe(422);
  expect(nested.json.errors[0].field).toBe("properties.a.__proto__");
  const topOfProps = await post(server, "/api/v1/users", '{"external_user_id":"u","traits":{"__proto__":{"isAdmin":true}}}');
  expect(topOfProps.status).toBe(422);
  expect(topOfProps.json.errors[0].field).toBe("traits.__proto__");
  const bulk = await post(server, "/api/v1/users/bulk", '{"users":[{"external_user_id":"u","traits":{"__proto__":{"isAdmin":true}}}]}');
  expect(bulk.json.data).toMatchObject({ accepted: 0, rejected: 1 });
  expect(bulk.json.data.errors[0].field).toBe("users[0].traits.__proto__");
  const top = await post(server, "/api/v1/events", '{"__proto__":{"polluted":1},"external_user_id":"u","name":"x","other":1}');
  expect(top.status).toBe(202);
  // Other unknown fields are stored as sent; a top-level `__proto__` is left out.
  expect(JSON.stringify((await queueRows(server))[0]!.payload)).toBe('{"external_user_id":"u","name":"x","other":1}');
  // `constructor` and `prototype` are harmless as plain data and accepted.
  const ctor = await post(server, "/api/v1/events", '{"external_user_id":"u","name":"x","properties":{"constructor":{"prototype":{"polluted":1}}}}');
  expect(ctor.status).toBe(202);
  expect(polluted()).toBe(false);
});

test("fuzz: random mutations of valid bodies get 202/200, 400 or 422 with the envelope — never a 500", async () => {
  let seed = 20261126;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const weird: unknown[] = [null, true, 0, -1.5e308, "", "$x", "vf_y", "__proto__", [], {}, [[[]]], { __proto__: null }, "é\u0000", "9".repeat(400), { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } }];
  const mutate = (value: any, depth = 0): any => {
    if (depth > 3 || rand() < 0.2) return pick(weird);
    if (Array.isArray(value)) return value.map((v) => (rand() < 0.3 ? mutate(v, depth + 1) : v));
    if (value && typeof value === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) if (rand() > 0.1) out[rand() < 0.1 ? pick(["$k", "vf_k", "Name", "name "]) : k] = rand() < 0.3 ? mutate(v, depth + 1) : v;
      return out;
    }
    return rand() < 0.5 ? pick(weird) : value;
  };
  const bases: [string, unknown][] = [
    ["/api/v1/events", { external_user_id: "u", name: "feature_used", properties: { feature: "x", count: 2 }, timestamp: "2026-01-01T00:00:00Z" }],
    ["/api/v1/users", { external_user_id: "u", email: "a@example.com", traits: { plan: "pro" } }],
    ["/api/v1/events/batch", { events: [{ external_user_id: "u", name: "x" }, { external_user_id: "v", name: "trial_started", properties: { trialDays: 3 } }] }],
    ["/api/v1/events/bulk", { events: [{ external_user_id: "u", name: "x" }, { external_user_id: "v", name: "user_invited", properties: { invitedEmail: "b@example.com" } }] }],
    ["/api/v1/users/bulk", { users: [{ external_user_id: "u" }, { external_user_id: "v", traits: { a: 1 } }] }],
  ];
  const seen = new Set<number>();
  for (let i = 0; i < 400; i++) {
    const [path, base] = pick(bases);
    let text = JSON.stringify(mutate(base));
    if (rand() < 0.15) {
      const at = Math.floor(rand() * text.length);
      text = text.slice(0, at) + pick(["{", "}", '"', ",", "\\", "\u0001", "]"]) + text.slice(at + 1);
    }
    const r = await post(server, path, text);
    seen.add(r.status);
    expect({ path, text, status: [200, 202, 400, 422].includes(r.status) }).toEqual({ path, text, status: true });
    if (r.status >= 400) expect(r.json.errors.length).toBeGreaterThan(0);
    else expect(r.json.data).toBeDefined();
  }
  expect([...seen].sort()).toEqual([200, 202, 400, 422]);
});

test("the server still answers normally after all of the above", async () => {
  expect((await post(server, "/api/v1/events", event())).status).toBe(202);
});

test("a client that hangs up in the middle of its body is a 400 it never reads, not a 500 and an error in the log", async () => {
  const { log } = await import("../../src/lib/log");
  const { ingestCounters } = await import("../../src/ingest/counters");
  const errors: string[] = [];
  const original = log.error;
  log.error = (msg: string) => void errors.push(msg);
  const before = { bad: ingestCounters.get("events", 400), failed: ingestCounters.get("events", 500) };
  try {
    const { hostname, port } = new URL(server.url);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(`POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
        setTimeout(() => socket.destroy(), 100);
      });
      socket.on("close", () => resolve());
      socket.on("error", reject);
    });
    // The server notices the hang-up and finishes the request.
    for (let i = 0; i < 50 && ingestCounters.get("events", 400) === before.bad; i++) await Bun.sleep(20);
  } finally {
    log.error = original;
  }
  expect({ bad: ingestCounters.get("events", 400) - before.bad, failed: ingestCounters.get("events", 500) - before.failed, errors }).toEqual({ bad: 1, failed: 0, errors: [] });
});
