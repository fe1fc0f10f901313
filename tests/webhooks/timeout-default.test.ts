import { afterEach, expect, spyOn, test } from "bun:test";
import { deliverDue, DEFAULT_TIMEOUT_MS, listDeliveries } from "../../src/webhooks";
import { ONLY_WELCOME, startWorld, type World } from "../drafts/support";
import { endpointToml, startReceiver, webhookEnv, type Receiver } from "./support";

// SPEC §10: a delivery succeeds only on a 2xx within 10 s. The running service's configuration (not a test
// override) must carry 10 000 ms, and that is the limit the real attempt arms — checked without waiting 10 s.
const receivers: Receiver[] = [];
const spies: { mockRestore(): void }[] = [];
afterEach(() => {
  while (spies.length) spies.pop()!.mockRestore();
  while (receivers.length) receivers.pop()!.stop();
});

async function worldWithDraft(r: Receiver): Promise<World> {
  receivers.push(r);
  const w = await startWorld(ONLY_WELCOME + endpointToml(r.url + "/hook", ["draft.created"]));
  await w.signUp("ann");
  await w.evaluate();
  return w;
}

/** Records every setTimeout of the process (calling through to the real one). */
function watchTimers() {
  const spy = spyOn(globalThis, "setTimeout");
  spies.push(spy);
  return {
    armed: (ms: number) => spy.mock.calls.filter((c) => c[1] === ms).map((c) => c[0] as () => void),
  };
}

test("the webhook service of a started server uses a 10 000 ms attempt timeout by default", async () => {
  expect(DEFAULT_TIMEOUT_MS).toBe(10_000);
  const r = startReceiver([{ status: 200, delayMs: 300 }]);
  const w = await worldWithDraft(r);
  const env = webhookEnv(w);
  expect(env.timeoutMs).toBe(10_000);

  // The real attempt arms exactly that limit, and a 2xx within it is success.
  const timers = watchTimers();
  const outcomes = await deliverDue(env);
  expect(outcomes.map((o) => [o.state, o.status])).toEqual([["delivered", 200]]);
  expect(timers.armed(10_000)).toHaveLength(1);
});

test("an endpoint that has not answered when the 10 s limit fires is a failed attempt, retried later", async () => {
  const r = startReceiver([{ status: 200, delayMs: 30_000 }], 200);
  const w = await worldWithDraft(r);
  const env = webhookEnv(w);
  const timers = watchTimers();
  const pending = deliverDue(env);
  // Wait for the attempt to be in flight with its limit armed, then let the limit fire now instead of in 10 s.
  const end = performance.now() + 20_000; // bounds a hang
  while (timers.armed(10_000).length === 0 || r.received.length === 0) {
    if (performance.now() > end) throw new Error("no attempt with a 10 000 ms limit was started");
    await Bun.sleep(5);
  }
  const started = Date.now();
  timers.armed(10_000)[0]!();
  const [outcome] = await pending;
  expect(Date.now() - started).toBeLessThan(5_000); // cut off now, not by the real timer 10 s after the attempt began, nor the receiver's 30 s
  expect(outcome).toMatchObject({ state: "pending", status: null, error: expect.stringContaining("timed out after 10000 ms") });
  const [row] = await listDeliveries(w.server.ctx.database, "acme");
  expect(row).toMatchObject({ state: "pending", attempts: 1, lastError: expect.stringContaining("timed out after 10000 ms") });
});
