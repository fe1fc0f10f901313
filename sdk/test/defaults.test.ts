import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { NetworkError, ServerError, VibeFollow, type FetchLike } from "../src/index.js";
import { accepted, apiError, fakeFetch } from "./support/fake-fetch.js";

/**
 * SPEC §12 defaults of `new VibeFollow({apiKey, baseUrl, fetchImpl})` and `vf.events.batch()`:
 * maxRetries 2 (3 attempts), timeoutMs 10000, maxSize 100, maxAgeMs 5000. Nothing here waits for real:
 * the SDK schedules its timeout, backoff and batch timers with the global setTimeout and dates queued events
 * with Date.now, both of which a fake clock replaces for the length of each test.
 */

const realSetImmediate = setImmediate;
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realDateNow = Date.now;

/** Lets pending promise chains (fetch, response bodies, the batcher's flush) run to their next timer. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => realSetImmediate(resolve));
}

interface FakeTimer {
  id: number;
  at: number;
  run: () => void;
}

/** A fake setTimeout/clearTimeout over a clock that moves only with `advance`. */
class FakeClock {
  now = 0;
  private seq = 0;
  private readonly timers = new Map<number, FakeTimer>();

  install(): void {
    const setTimeoutFake = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const id = ++this.seq;
      this.timers.set(id, { id, at: this.now + Math.max(0, Number(ms) || 0), run: () => fn(...args) });
      const handle = { id, ref: () => handle, unref: () => handle, hasRef: () => true, [Symbol.toPrimitive]: () => id };
      return handle;
    };
    const clearTimeoutFake = (handle: unknown) => {
      if (handle === undefined || handle === null) return;
      this.timers.delete(typeof handle === "object" ? (handle as { id: number }).id : Number(handle));
    };
    Object.assign(globalThis, { setTimeout: setTimeoutFake, clearTimeout: clearTimeoutFake });
    // The batcher dates its events with Date.now() and derives its age timer from it: the clock must move
    // only with `advance`, or a millisecond passing between the two reads makes a 5000 ms wait 4999 ms.
    const epoch = realDateNow();
    Date.now = () => epoch + this.now;
  }

  uninstall(): void {
    Object.assign(globalThis, { setTimeout: realSetTimeout, clearTimeout: realClearTimeout });
    Date.now = realDateNow;
  }

  /** Milliseconds from now until each waiting timer fires, soonest first. */
  delays(): number[] {
    return [...this.timers.values()].map((t) => t.at - this.now).sort((a, b) => a - b);
  }

  /** Moves the clock forward, firing each timer that falls due (in order) and letting its work run. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await settle();
      const due = [...this.timers.values()].filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers.delete(due.id);
      this.now = due.at;
      due.run();
    }
    this.now = end;
    await settle();
  }
}

async function withFakeClock(body: (clock: FakeClock) => Promise<void>): Promise<void> {
  const clock = new FakeClock();
  clock.install();
  try {
    await body(clock);
  } finally {
    clock.uninstall();
  }
}

/** The state of a promise without waiting for it. */
function observe<T>(promise: Promise<T>): { settled: boolean; value?: T; error?: unknown } {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

describe("SPEC §12 defaults", () => {
  it("maxRetries defaults to 2: a failing request is tried 3 times in all, with one Idempotency-Key", () =>
    withFakeClock(async (clock) => {
      // Three 503s, then a success a 4th attempt would get.
      const fetchImpl = fakeFetch(apiError(503, "server_error"), apiError(503, "server_error"), apiError(503, "server_error"), accepted());
      const vf = new VibeFollow({ apiKey: "sk_live_x", baseUrl: "http://vf.test", fetchImpl });
      const call = observe(vf.events.track("custom", "u1"));
      await clock.advance(60_000); // far past any backoff (≤ 500 ms, then ≤ 1000 ms, plus jitter)
      assert.equal(call.settled, true);
      assert.ok(call.error instanceof ServerError, `expected ServerError, got ${String(call.error ?? JSON.stringify(call.value))}`);
      assert.equal(fetchImpl.calls.length, 3);
      const keys = new Set(fetchImpl.calls.map((c) => c.headers["idempotency-key"]));
      assert.equal(keys.size, 1);

      // Two failures and then a success: the third attempt is made and its answer returned.
      const recovering = fakeFetch(apiError(500, "server_error"), new TypeError("fetch failed"), accepted());
      const vf2 = new VibeFollow({ apiKey: "sk_live_x", baseUrl: "http://vf.test", fetchImpl: recovering });
      const ok = observe(vf2.users.identify("u1", { email: "u1@example.com" }));
      await clock.advance(60_000);
      assert.deepEqual(ok, { settled: true, value: { accepted: true } });
      assert.equal(recovering.calls.length, 3);
    }));

  it("timeoutMs defaults to 10000: a hung request is aborted at exactly 10 s, not before", () =>
    withFakeClock(async (clock) => {
      const fetchImpl = fakeFetch("hang");
      const vf = new VibeFollow({ apiKey: "sk_live_x", baseUrl: "http://vf.test", fetchImpl, maxRetries: 0 });
      const call = observe(vf.events.track("custom", "u1"));
      await clock.advance(0);
      assert.equal(fetchImpl.calls.length, 1);
      assert.deepEqual(clock.delays(), [10_000]);
      await clock.advance(9_999);
      assert.equal(call.settled, false, "still waiting at 9,999 ms");
      assert.equal(fetchImpl.calls[0]!.signal?.aborted, false);
      await clock.advance(1);
      assert.equal(call.settled, true, "timed out at 10,000 ms");
      assert.ok(call.error instanceof NetworkError);
      assert.equal(call.error.code, "timeout");
      assert.match(call.error.message, /timed out after 10000 ms/);
      assert.equal(fetchImpl.calls[0]!.signal?.aborted, true);
    }));

  it("with every option defaulted, each of the 3 attempts of a hung request gets its own 10 s", () =>
    withFakeClock(async (clock) => {
      const inner = fakeFetch("hang");
      const spans: number[] = [];
      const fetchImpl: FetchLike = (url, init) => {
        const startedAt = clock.now;
        init.signal?.addEventListener("abort", () => spans.push(clock.now - startedAt));
        return inner(url, init);
      };
      const vf = new VibeFollow({ apiKey: "sk_live_x", baseUrl: "http://vf.test", fetchImpl });
      const call = observe(vf.events.track("custom", "u1"));
      await clock.advance(120_000);
      assert.equal(call.settled, true);
      assert.ok(call.error instanceof NetworkError && call.error.code === "timeout");
      assert.equal(inner.calls.length, 3);
      assert.deepEqual(spans, [10_000, 10_000, 10_000]);
    }));

  it("batch() flushes automatically once 100 events are queued (maxSize 100)", () =>
    withFakeClock(async (clock) => {
      const fetchImpl = fakeFetch(accepted());
      const vf = new VibeFollow({ apiKey: "sk_live_x", baseUrl: "http://vf.test", fetchImpl });
      const batch = vf.events.batch();
      for (let i = 0; i < 99; i++) batch.track("custom", `u${i}`);
      await clock.advance(0);
      assert.equal(fetchImpl.calls.length, 0, "99 events: nothing sent yet");
      assert.equal(batch.size, 99);
      batch.track("custom", "u99");
      await clock.advance(0); // no time passes: the 100th event alone triggers the flush
      assert.equal(fetchImpl.calls.length, 1);
      assert.equal(fetchImpl.calls[0]!.url, "http://vf.test/api/v1/events/batch");
      const sent = fetchImpl.calls[0]!.body.events.map((e: { external_user_id: string }) => e.external_user_id);
      assert.deepEqual(sent, Array.from({ length: 100 }, (_, i) => `u${i}`));
      assert.equal(batch.size, 0);
      assert.deepEqual(clock.delays(), [], "the age timer went with the flush");
    }));

  it("batch() flushes automatically 5000 ms after the first queued event (maxAgeMs 5000)", () =>
    withFakeClock(async (clock) => {
      const fetchImpl = fakeFetch(accepted());
      const vf = new VibeFollow({ apiKey: "sk_live_x", baseUrl: "http://vf.test", fetchImpl });
      const batch = vf.events.batch();
      batch.track("custom", "first");
      assert.deepEqual(clock.delays(), [5_000]);
      await clock.advance(2_000);
      batch.track("custom", "second"); // a later event does not restart the wait
      await clock.advance(2_999);
      assert.equal(fetchImpl.calls.length, 0, "nothing sent at 4,999 ms");
      await clock.advance(1);
      assert.equal(fetchImpl.calls.length, 1, "sent at 5,000 ms");
      assert.deepEqual(
        fetchImpl.calls[0]!.body.events.map((e: { external_user_id: string }) => e.external_user_id),
        ["first", "second"],
      );
      assert.equal(batch.size, 0);

      // The next event starts a new 5 s wait of its own.
      await clock.advance(10_000);
      batch.track("custom", "third");
      await clock.advance(4_999);
      assert.equal(fetchImpl.calls.length, 1);
      await clock.advance(1);
      assert.equal(fetchImpl.calls.length, 2);
      assert.deepEqual(fetchImpl.calls[1]!.body.events.map((e: { external_user_id: string }) => e.external_user_id), ["third"]);
    }));
});
