import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { NetworkError, ValidationError, VibeFollow, type BatchOptions, type VibeFollowError } from "../src/index.js";
import { accepted, apiError, fakeFetch, type Step } from "./support/fake-fetch.js";

function setup(options: BatchOptions, ...steps: Step[]) {
  const fetchImpl = fakeFetch(...(steps.length ? steps : [accepted()]));
  // maxRetries 0: retry timing is covered in http.test.ts; here only batching matters.
  const vf = new VibeFollow({ apiKey: "k", baseUrl: "http://vf.test", maxRetries: 0, fetchImpl });
  return { batch: vf.events.batch(options), calls: fetchImpl.calls };
}

/** Polls `condition`; the deadline only bounds a hang (timers run late on a loaded machine). */
async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("waitFor: timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("events.batch", () => {
  it("queues synchronously and auto-flushes maxAgeMs after the first event", async () => {
    const { batch, calls } = setup({ maxAgeMs: 40 });
    const started = Date.now();
    assert.equal(batch.track("feature_used", "u1", { feature: "search" }), undefined);
    batch.track("custom", "u2", { a: 1 }, { timestamp: "2025-01-01T00:00:00Z" });
    assert.equal(calls.length, 0, "nothing sent yet");
    assert.equal(batch.size, 2);
    await waitFor(() => calls.length === 1);
    assert.ok(Date.now() - started >= 35, "waited for maxAgeMs");
    assert.equal(calls[0]!.url, "http://vf.test/api/v1/events/batch");
    const [first, second] = calls[0]!.body.events;
    assert.deepEqual(second, { external_user_id: "u2", name: "custom", properties: { a: 1 }, timestamp: "2025-01-01T00:00:00Z" });
    assert.equal(first.name, "feature_used");
    // Stamped at track() time, because the batch leaves later than the event happened.
    assert.ok(Math.abs(Date.parse(first.timestamp) - started) < 1000);
    await waitFor(() => batch.size === 0);
  });

  it("auto-flushes as soon as maxSize events are queued", async () => {
    const { batch, calls } = setup({ maxSize: 3, maxAgeMs: 60_000 });
    batch.track("e", "u1");
    batch.track("e", "u2");
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls.length, 0);
    batch.track("e", "u3");
    await waitFor(() => calls.length === 1);
    assert.deepEqual(
      calls[0]!.body.events.map((e: { external_user_id: string }) => e.external_user_id),
      ["u1", "u2", "u3"],
    );
  });

  it("a request carries at most maxSize events; what is tracked past whole batches waits for maxAgeMs", async () => {
    const sentAt: number[] = [];
    const { batch, calls } = setup({ maxSize: 3, maxAgeMs: 150 }, () => (sentAt.push(Date.now()), accepted()));
    const started = Date.now();
    for (let i = 0; i < 7; i++) batch.track("e", `u${i}`);
    // The flushes the third and sixth events started run after the loop: two full batches, not the seventh event.
    await waitFor(() => calls.length === 2);
    await waitFor(() => calls.length === 3);
    // Timed when it was sent (not when this test next looked, which a loaded machine delays past maxAgeMs).
    assert.ok(sentAt[2]! - started >= 140, "the seventh waits: sent maxAgeMs after it was tracked");
    assert.deepEqual(
      calls.map((c) => c.body.events.map((e: { external_user_id: string }) => e.external_user_id).join(",")),
      ["u0,u1,u2", "u3,u4,u5", "u6"],
    );
  });

  it("flush() sends everything, splitting more than 500 into several requests in order", async () => {
    const { batch, calls } = setup({ maxSize: 5000 });
    for (let i = 0; i < 1200; i++) batch.track("e", `u${i}`);
    assert.deepEqual(await batch.flush(), { sent: 1200 });
    assert.deepEqual(
      calls.map((c) => c.body.events.length),
      [500, 500, 200],
    );
    assert.equal(calls[1]!.body.events[0].external_user_id, "u500");
    assert.equal(new Set(calls.map((c) => c.headers["idempotency-key"])).size, 3, "one key per request");
    assert.equal(batch.size, 0);
  });

  it("flush() with nothing queued sends nothing", async () => {
    const { batch, calls } = setup({});
    assert.deepEqual(await batch.flush(), { sent: 0 });
    assert.equal(calls.length, 0);
  });

  it("track() throws ValidationError at once and queues nothing", () => {
    const { batch } = setup({});
    assert.throws(() => batch.track("feature_used", "u1", {} as never), (e: unknown) => e instanceof ValidationError && e.field === "properties.feature");
    assert.throws(() => batch.track("vf_x", "u1"), ValidationError);
    assert.equal(batch.size, 0);
  });

  it("keeps events after a transient failure and re-sends them with the same Idempotency-Key", async () => {
    const reports: Array<[string, number, boolean]> = [];
    const { batch, calls } = setup(
      { onError: (err, events, retained) => reports.push([err.code, events.length, retained]) },
      new TypeError("fetch failed"),
      accepted(),
    );
    batch.track("e", "u1");
    batch.track("e", "u2");
    await assert.rejects(batch.flush(), NetworkError);
    assert.equal(batch.size, 2, "still queued");
    assert.deepEqual(reports, [["network_error", 2, true]]);
    batch.track("e", "u3");
    assert.deepEqual(await batch.flush(), { sent: 3 });
    assert.equal(calls.length, 3);
    assert.equal(calls[1]!.headers["idempotency-key"], calls[0]!.headers["idempotency-key"], "same key for the re-send");
    assert.deepEqual(calls[1]!.body, calls[0]!.body, "same body, so the server can replay");
    assert.deepEqual(calls[2]!.body.events.map((e: { external_user_id: string }) => e.external_user_id), ["u3"]);
  });

  it("re-sends retained events by itself a little later, even if onError throws", async () => {
    const { batch, calls } = setup(
      {
        maxSize: 1,
        maxAgeMs: 50, // the retry comes max(maxAgeMs, 1 s) later
        onError: () => {
          throw new Error("callback bug");
        },
      },
      apiError(503, "server_error"),
      accepted(),
    );
    batch.track("e", "u1");
    await waitFor(() => calls.length === 1);
    assert.equal(batch.size, 1, "kept despite the throwing callback");
    await waitFor(() => calls.length === 2);
    assert.equal(calls[1]!.headers["idempotency-key"], calls[0]!.headers["idempotency-key"]);
    await waitFor(() => batch.size === 0);
  });

  it("drops a request the server refused (422), reports it, and still sends the others", async () => {
    const dropped: VibeFollowError[] = [];
    let n = 0;
    const { batch, calls } = setup({ maxSize: 5000, onError: (err, _events, retained) => !retained && dropped.push(err) }, () =>
      n++ === 0 ? apiError(422, "validation_failed", "bad", "events[3].name") : accepted(),
    );
    for (let i = 0; i < 700; i++) batch.track("e", `u${i}`);
    const err = await batch.flush().catch((e) => e);
    assert.ok(err instanceof ValidationError);
    assert.equal(err.field, "events[3].name");
    assert.equal(calls.length, 2, "the second request still went out");
    assert.equal(dropped.length, 1);
    assert.equal(batch.size, 0);
  });

  it("never leaves an automatic flush failure unhandled", async () => {
    const errors: string[] = [];
    const { batch, calls } = setup({ maxSize: 1, onError: (err) => errors.push(err.code) }, apiError(401, "auth_required"));
    batch.track("e", "u1");
    await waitFor(() => errors.length === 1);
    assert.deepEqual(errors, ["auth_required"]);
    assert.equal(calls.length, 1);
  });

  it("keeps order when flushes overlap", async () => {
    const { batch, calls } = setup({ maxSize: 2 }, async () => {
      await new Promise((r) => setTimeout(r, 10));
      return accepted();
    });
    for (let i = 0; i < 6; i++) batch.track("e", `u${i}`);
    await batch.flush();
    const order = calls.flatMap((c) => c.body.events.map((e: { external_user_id: string }) => e.external_user_id));
    assert.deepEqual(order, ["u0", "u1", "u2", "u3", "u4", "u5"]);
  });

  it("rejects bad options", () => {
    const { batch } = setup({});
    assert.ok(batch);
    assert.throws(() => setup({ maxSize: 0 }), RangeError);
    assert.throws(() => setup({ maxAgeMs: -1 }), RangeError);
  });

  it("splits a flush so that no request body passes the server's 1 MiB limit", async () => {
    const { batch, calls } = setup({ maxSize: 100, maxAgeMs: 60_000 }, accepted(), accepted(), accepted());
    const big = "x".repeat(12 * 1024);
    for (let i = 0; i < 99; i++) batch.track("e", `u${i}`, { big });
    assert.deepEqual(await batch.flush(), { sent: 99 });
    assert.ok(calls.length >= 2, `${calls.length} requests`);
    for (const c of calls) assert.ok(Buffer.byteLength(JSON.stringify(c.body)) < 1024 * 1024);
    assert.equal(calls.reduce((n, c) => n + c.body.events.length, 0), 99);
  });

  it("queues a snapshot: changing the properties object after track() changes nothing", async () => {
    const { batch, calls } = setup({ maxAgeMs: 60_000 });
    const props: Record<string, unknown> = { page: 1 };
    for (let page = 1; page <= 3; page++) {
      props.page = page;
      batch.track("viewed", "u1", props);
    }
    const signup = { feature: "x" } as { feature?: string };
    batch.track("feature_used", "u1", signup as { feature: string });
    delete signup.feature;
    await batch.flush();
    assert.deepEqual(calls[0]!.body.events.map((e: { properties: unknown }) => e.properties), [{ page: 1 }, { page: 2 }, { page: 3 }, { feature: "x" }]);
  });

  it("refuses a maxAgeMs no timer can wait (it would flush at once)", () => {
    assert.throws(() => setup({ maxAgeMs: 2 ** 31 }), RangeError);
  });
});
