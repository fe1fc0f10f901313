import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HttpClient, parseRetryAfter } from "../src/http.js";
import {
  AuthError,
  NetworkError,
  RateLimitError,
  SDK_VERSION,
  ServerError,
  ValidationError,
  VibeFollow,
  VibeFollowError,
} from "../src/index.js";
import { accepted, apiError, fakeFetch, json, type Step } from "./support/fake-fetch.js";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** An HttpClient whose waits are recorded instead of slept, with a fixed "random". */
function client(steps: Step[], opts: { maxRetries?: number; timeoutMs?: number; random?: number } = {}) {
  const fetchImpl = fakeFetch(...steps);
  const sleeps: number[] = [];
  const http = new HttpClient({
    apiKey: "sk_live_test",
    baseUrl: "http://vf.test/",
    timeoutMs: opts.timeoutMs ?? 1000,
    maxRetries: opts.maxRetries ?? 2,
    fetchImpl,
    sleep: async (ms) => void sleeps.push(ms),
    random: () => opts.random ?? 0.5,
  });
  return { http, calls: fetchImpl.calls, sleeps };
}

describe("HttpClient: request shape", () => {
  it("posts JSON with auth, user agent and a v4 Idempotency-Key to baseUrl + path", async () => {
    const { http, calls } = client([accepted()]);
    const res = await http.post("/api/v1/events", { name: "x" });
    assert.deepEqual(res.data, { accepted: true });
    assert.equal(res.status, 202);
    assert.equal(calls.length, 1);
    const call = calls[0]!;
    assert.equal(call.url, "http://vf.test/api/v1/events");
    assert.equal(call.method, "POST");
    assert.equal(call.headers["authorization"], "Bearer sk_live_test");
    assert.equal(call.headers["content-type"], "application/json");
    assert.equal(call.headers["user-agent"], `vibefollow-sdk/${SDK_VERSION}`);
    assert.match(call.headers["idempotency-key"]!, UUID_V4);
    assert.deepEqual(call.body, { name: "x" });
  });

  it("uses a fresh Idempotency-Key for each logical call", async () => {
    const { http, calls } = client([accepted()]);
    await http.post("/a", {});
    await http.post("/a", {});
    assert.notEqual(calls[0]!.headers["idempotency-key"], calls[1]!.headers["idempotency-key"]);
  });

  it("returns meta beside data", async () => {
    const { http } = client([json(200, { data: { accepted: 1 }, meta: { received: 1 } })]);
    const res = await http.post("/a", {});
    assert.deepEqual(res.meta, { received: 1 });
  });
});

describe("HttpClient: retries", () => {
  it("retries network errors, 5xx and 429 with the same Idempotency-Key, then succeeds", async () => {
    const { http, calls } = client(
      [new TypeError("fetch failed"), apiError(503, "server_error"), accepted()],
      { maxRetries: 3 },
    );
    await http.post("/a", { x: 1 });
    assert.equal(calls.length, 3);
    const keys = new Set(calls.map((c) => c.headers["idempotency-key"]));
    assert.equal(keys.size, 1, "one key across all attempts");
    assert.deepEqual(calls[2]!.body, { x: 1 });
  });

  it("gives up after maxRetries and throws the last error", async () => {
    const { http, calls } = client([apiError(500, "server_error", "boom")], { maxRetries: 2 });
    const err = await http.post("/a", {}).catch((e) => e);
    assert.ok(err instanceof ServerError);
    assert.equal(err.status, 500);
    assert.equal(err.code, "server_error");
    assert.equal(err.message, "boom");
    assert.equal(calls.length, 3);
  });

  it("maxRetries 0 means a single attempt", async () => {
    const { http, calls } = client([new TypeError("fetch failed")], { maxRetries: 0 });
    await assert.rejects(http.post("/a", {}), NetworkError);
    assert.equal(calls.length, 1);
  });

  it("backs off exponentially with full jitter", async () => {
    const { http, sleeps } = client([apiError(502, "bad_gateway")], { maxRetries: 4, random: 0.5 });
    await assert.rejects(http.post("/a", {}), ServerError);
    // Ceilings 500, 1000, 2000, 4000 ms; random 0.5 picks the middle of each.
    assert.deepEqual(sleeps, [250, 500, 1000, 2000]);
  });

  it("caps the backoff ceiling at 8 s and can pick 0 (full jitter)", async () => {
    const high = client([apiError(500, "x")], { maxRetries: 7, random: 0.999 });
    await assert.rejects(high.http.post("/a", {}));
    assert.ok(high.sleeps.every((ms) => ms < 8000));
    assert.equal(Math.max(...high.sleeps), 7992);
    const low = client([apiError(500, "x")], { maxRetries: 2, random: 0 });
    await assert.rejects(low.http.post("/a", {}));
    assert.deepEqual(low.sleeps, [0, 0]);
  });

  it("honours Retry-After (seconds) on 429 instead of the backoff", async () => {
    const { http, calls, sleeps } = client([apiError(429, "rate_limited", "slow down", undefined, { "Retry-After": "3" }), accepted()]);
    await http.post("/a", {});
    assert.deepEqual(sleeps, [3000]);
    assert.equal(calls.length, 2);
    assert.equal(calls[0]!.headers["idempotency-key"], calls[1]!.headers["idempotency-key"]);
  });

  it("honours Retry-After on a 503 too", async () => {
    const { http, sleeps } = client([apiError(503, "server_error", "x", undefined, { "Retry-After": "1" }), accepted()]);
    await http.post("/a", {});
    assert.deepEqual(sleeps, [1000]);
  });

  it("throws RateLimitError with retryAfterMs once retries run out", async () => {
    const { http, calls } = client([apiError(429, "backfill_queue_full", "full", undefined, { "Retry-After": "2" })], { maxRetries: 1 });
    const err = await http.post("/a", {}).catch((e) => e);
    assert.ok(err instanceof RateLimitError);
    assert.equal(err.status, 429);
    assert.equal(err.code, "backfill_queue_full");
    assert.equal(err.retryAfterMs, 2000);
    assert.equal(calls.length, 2);
  });

  it("does not sit out a Retry-After over 60 s inside the call", async () => {
    const { http, calls } = client([apiError(429, "rate_limited", "x", undefined, { "Retry-After": "3600" })]);
    const err = await http.post("/a", {}).catch((e) => e);
    assert.ok(err instanceof RateLimitError);
    assert.equal(err.retryAfterMs, 3_600_000);
    assert.equal(calls.length, 1);
  });

  it("retries 409 idempotency_key_in_use (its own earlier attempt is still running)", async () => {
    const { http, calls } = client([apiError(409, "idempotency_key_in_use"), accepted()]);
    await http.post("/a", {});
    assert.equal(calls.length, 2);
  });

  for (const [status, code, cls] of [
    [400, "invalid_json", VibeFollowError],
    [401, "auth_required", AuthError],
    [403, "forbidden", AuthError],
    [409, "idempotency_key_reuse", ValidationError],
    [413, "payload_too_large", VibeFollowError],
    [415, "unsupported_media_type", VibeFollowError],
    [422, "validation_failed", ValidationError],
  ] as const) {
    it(`throws ${cls.name} at once on ${status}`, async () => {
      const { http, calls } = client([apiError(status, code, "nope", "events[3].name")]);
      const err = await http.post("/a", {}).catch((e) => e);
      assert.ok(err instanceof cls, `${err?.constructor?.name} is ${cls.name}`);
      assert.ok(err instanceof VibeFollowError);
      assert.equal(err.status, status);
      assert.equal(err.code, code);
      assert.equal(calls.length, 1, "not retried");
      if (err instanceof ValidationError) assert.equal(err.field, "events[3].name");
    });
  }

  it("copes with a non-JSON error body (a proxy's HTML page)", async () => {
    const { http } = client([new Response("<html>Bad gateway</html>", { status: 502 })], { maxRetries: 0 });
    const err = await http.post("/a", {}).catch((e) => e);
    assert.ok(err instanceof ServerError);
    assert.equal(err.code, "server_error");
    assert.equal(err.message, "HTTP 502");
  });
});

describe("HttpClient: timeouts", () => {
  it("refuses a timeoutMs no timer can wait (Infinity or over 2^31 − 1 ms would time out at once)", () => {
    for (const timeoutMs of [Infinity, 3e9, 0, Number.NaN]) {
      assert.throws(() => new VibeFollow({ apiKey: "k", baseUrl: "http://vf.test", timeoutMs }), RangeError, String(timeoutMs));
    }
  });

  it("aborts a hung request after timeoutMs and throws NetworkError code timeout", async () => {
    const { http, calls } = client(["hang"], { timeoutMs: 30, maxRetries: 0 });
    const started = Date.now();
    const err = await http.post("/a", {}).catch((e) => e);
    assert.ok(err instanceof NetworkError);
    assert.equal(err.status, 0);
    assert.equal(err.code, "timeout");
    assert.ok(Date.now() - started < 5_000); // its 30 ms, not the default 10 s (the bound leaves a loaded machine room)
    assert.equal(calls[0]!.signal?.aborted, true);
  });

  it("retries after a timeout with the same key", async () => {
    const { http, calls } = client(["hang", accepted()], { timeoutMs: 30 });
    await http.post("/a", {});
    assert.equal(calls.length, 2);
    assert.equal(calls[0]!.headers["idempotency-key"], calls[1]!.headers["idempotency-key"]);
  });

  it("times out a body that stalls after the headers", async () => {
    const stalled = () => new Response(new ReadableStream({ start() {} }), { status: 202 });
    const { http } = client([stalled], { timeoutMs: 30, maxRetries: 0 });
    const err = await http.post("/a", {}).catch((e) => e);
    assert.ok(err instanceof NetworkError);
    assert.equal(err.code, "timeout");
  });
});

describe("parseRetryAfter", () => {
  it("reads seconds and HTTP dates, ignores junk", () => {
    assert.equal(parseRetryAfter("0"), 0);
    assert.equal(parseRetryAfter(" 5 "), 5000);
    const now = Date.parse("2025-01-01T00:00:00Z");
    assert.equal(parseRetryAfter("Wed, 01 Jan 2025 00:00:10 GMT", now), 10_000);
    assert.equal(parseRetryAfter("Tue, 31 Dec 2024 00:00:00 GMT", now), 0);
    assert.equal(parseRetryAfter(null), undefined);
    assert.equal(parseRetryAfter("soon"), undefined);
  });
});

describe("VibeFollow client", () => {
  it("retries a dropped connection end to end with one key (real backoff)", async () => {
    const fetchImpl = fakeFetch(new TypeError("fetch failed"), accepted());
    const vf = new VibeFollow({ apiKey: "sk_live_x", baseUrl: "http://vf.test", fetchImpl });
    assert.deepEqual(await vf.events.track("custom", "u1"), { accepted: true });
    assert.equal(fetchImpl.calls.length, 2);
    assert.equal(fetchImpl.calls[0]!.headers["idempotency-key"], fetchImpl.calls[1]!.headers["idempotency-key"]);
  });

  it("applies timeoutMs and maxRetries", async () => {
    const fetchImpl = fakeFetch("hang");
    const vf = new VibeFollow({ apiKey: "k", baseUrl: "http://vf.test", timeoutMs: 20, maxRetries: 0, fetchImpl });
    await assert.rejects(vf.events.track("custom", "u1"), (e: unknown) => e instanceof NetworkError && e.code === "timeout");
    assert.equal(fetchImpl.calls.length, 1);
  });

  it("rejects bad options at construction", () => {
    assert.throws(() => new VibeFollow({ apiKey: "", baseUrl: "http://x" }), TypeError);
    assert.throws(() => new VibeFollow({ apiKey: "k", baseUrl: "vf.example.com" }), TypeError);
    assert.throws(() => new VibeFollow({ apiKey: "k", baseUrl: "http://x", maxRetries: -1 }), RangeError);
    assert.throws(() => new VibeFollow({ apiKey: "k", baseUrl: "http://x", timeoutMs: 0 }), RangeError);
  });
});
