import { afterEach, expect, test } from "bun:test";
import { VibeFollow, WebhookSignatureError } from "../../sdk/src/index.ts";
import { countDeliveries, deliverDue, enqueueWebhook, listDeliveries, MAX_ATTEMPTS, redeliver, RETRY_DELAYS_MS, webhookService } from "../../src/webhooks";
import { ONLY_WELCOME, startWorld, type World } from "../drafts/support";
import { until } from "../support/processes";
import { endpointToml, SECRET, startReceiver, webhookEnv, type Receiver } from "./support";

const receivers: Receiver[] = [];
afterEach(() => {
  while (receivers.length) receivers.pop()!.stop();
});

function receiver(...args: Parameters<typeof startReceiver>): Receiver {
  const r = startReceiver(...args);
  receivers.push(r);
  return r;
}

/** A world whose only webhook endpoint gets `draft.created`, and one signed-up user with a fresh draft. */
async function worldWithDraft(r: Receiver, extra = ""): Promise<World> {
  const w = await startWorld(ONLY_WELCOME + endpointToml(r.url + "/hook", ["draft.created"]) + extra);
  await w.signUp("ann");
  await w.evaluate();
  return w;
}

const vf = new VibeFollow({ apiKey: "sk_live_unused_in_this_test_000000000000", baseUrl: "http://127.0.0.1:1" });

test("a delivery is a signed POST that the SDK's constructEvent verifies; body {type, id, created, data}", async () => {
  const r = receiver();
  const w = await worldWithDraft(r);
  const outcomes = await deliverDue(webhookEnv(w));
  expect(outcomes.map((o) => o.state)).toEqual(["delivered"]);
  const [got] = r.received;
  expect(got!.path).toBe("/hook");
  expect(got!.headers.get("content-type")).toBe("application/json");
  const signature = got!.headers.get("x-vibefollow-signature")!;
  expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
  expect(Number(/t=(\d+)/.exec(signature)![1])).toBe(Math.floor(w.clock.now() / 1000));

  const event = vf.webhooks.constructEvent(got!.body, signature, SECRET, { now: w.clock.now() });
  const [draft] = await w.sql("SELECT id FROM drafts");
  expect(event).toEqual({
    type: "draft.created",
    id: expect.stringMatching(/^whd_/),
    created: new Date(w.clock.now()).toISOString(),
    data: expect.objectContaining({ draft_id: draft!.id, rule_id: "welcome", external_user_id: "ann", email: "ann@example.com" }),
  });
  expect(got!.headers.get("x-vibefollow-delivery")).toBe(event.id);
  expect(got!.headers.get("x-vibefollow-event")).toBe("draft.created");
  // A wrong secret or an altered body does not verify.
  expect(() => vf.webhooks.constructEvent(got!.body, signature, "another_secret_0123456789", { now: w.clock.now() })).toThrow(WebhookSignatureError);
  expect(() => vf.webhooks.constructEvent(got!.body.replace("ann", "bob"), signature, SECRET, { now: w.clock.now() })).toThrow(WebhookSignatureError);

  const [row] = await listDeliveries(w.server.ctx.database, "acme");
  expect(row).toMatchObject({ id: event.id, state: "delivered", attempts: 1, lastStatus: 200, lastError: null, deliveredAt: w.clock.now(), eventType: "draft.created" });
  // Nothing is due any more.
  expect(await deliverDue(webhookEnv(w))).toEqual([]);
  expect(r.received).toHaveLength(1);
});

test("500, 500, then 200: retried after 30 s and 2 m on the injectable clock, same id every time", async () => {
  const r = receiver([500, 500], 200);
  const w = await worldWithDraft(r);
  const env = webhookEnv(w);
  const t0 = w.clock.now();
  expect((await deliverDue(env)).map((o) => [o.state, o.status])).toEqual([["pending", 500]]);
  let [row] = await listDeliveries(w.server.ctx.database, "acme");
  expect(row).toMatchObject({ state: "pending", attempts: 1, lastStatus: 500, lastError: "HTTP 500", nextAttemptAt: t0 + 30_000 });

  w.clock.advance(29_999);
  expect(await deliverDue(env)).toEqual([]); // not yet
  w.clock.advance(1);
  expect((await deliverDue(env)).map((o) => o.state)).toEqual(["pending"]);
  [row] = await listDeliveries(w.server.ctx.database, "acme");
  expect(row!.nextAttemptAt).toBe(t0 + 30_000 + 120_000);

  w.clock.advance(119_000);
  expect(await deliverDue(env)).toEqual([]);
  w.clock.advance(1_000);
  expect((await deliverDue(env)).map((o) => o.state)).toEqual(["delivered"]);
  [row] = await listDeliveries(w.server.ctx.database, "acme");
  expect(row).toMatchObject({ state: "delivered", attempts: 3, lastStatus: 200, lastError: null });

  const ids = r.bodies().map((b) => b.id);
  expect(ids).toHaveLength(3);
  expect(new Set(ids).size).toBe(1);
  expect(r.received.map((x) => x.headers.get("x-vibefollow-attempt"))).toEqual(["1", "2", "3"]);
  // Each attempt is signed afresh with the time of that attempt.
  const stamps = r.received.map((x) => Number(/t=(\d+)/.exec(x.headers.get("x-vibefollow-signature")!)![1]));
  expect(stamps).toEqual([t0, t0 + 30_000, t0 + 150_000].map((t) => Math.floor(t / 1000)));
});

test("an endpoint slower than the timeout is a failed attempt, retried later", async () => {
  const r = receiver([{ status: 200, delayMs: 30_000 }], 200);
  const w = await worldWithDraft(r);
  const env = webhookEnv(w);
  env.timeoutMs = 100;
  const started = Date.now();
  const [outcome] = await deliverDue(env);
  expect(Date.now() - started).toBeLessThan(10_000); // not the receiver's 30 s
  expect(outcome).toMatchObject({ state: "pending", status: null, error: expect.stringContaining("timed out after 100 ms") });
  w.clock.advance(30_000);
  expect((await deliverDue(env)).map((o) => o.state)).toEqual(["delivered"]);
});

test("after the last retry the delivery is dead-lettered and visible; redeliver re-sends it with the same id", async () => {
  const r = receiver([], 503);
  const w = await worldWithDraft(r);
  const env = webhookEnv(w);
  const db = w.server.ctx.database;
  expect(MAX_ATTEMPTS).toBe(8);
  expect(RETRY_DELAYS_MS).toEqual([30_000, 120_000, 600_000, 1_800_000, 7_200_000, 21_600_000, 43_200_000]);
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const outcomes = await deliverDue(env);
    expect(outcomes.map((o) => o.state)).toEqual([i < MAX_ATTEMPTS - 1 ? "pending" : "dead"]);
    if (i < RETRY_DELAYS_MS.length) w.clock.advance(RETRY_DELAYS_MS[i]!);
  }
  w.clock.advance(86_400_000);
  expect(await deliverDue(env)).toEqual([]); // dead stays dead
  const dead = await listDeliveries(db, "acme", { state: "dead" });
  expect(dead).toHaveLength(1);
  expect(dead[0]).toMatchObject({ state: "dead", attempts: 8, lastStatus: 503, lastError: "HTTP 503", nextAttemptAt: null, deliveredAt: null });
  expect(await listDeliveries(db, "acme", { state: "pending" })).toEqual([]);

  expect(await redeliver(db, "whd_unknown")).toBe(false);
  expect(await redeliver(db, dead[0]!.id, "other-project")).toBe(false);
  r.state.fallback = 204;
  expect(await redeliver(db, dead[0]!.id)).toBe(true);
  expect(await redeliver(db, dead[0]!.id)).toBe(false); // not dead any more
  expect((await deliverDue(env)).map((o) => o.state)).toEqual(["delivered"]);
  const ids = new Set(r.bodies().map((b) => b.id));
  expect([...ids]).toEqual([dead[0]!.id]);
  expect(r.received).toHaveLength(9);
  expect(await listDeliveries(db, "acme", { state: "delivered" })).toMatchObject([{ id: dead[0]!.id, lastStatus: 204, attempts: 1 }]);
});

test("only subscribed event types are delivered, to each subscribed endpoint", async () => {
  const a = receiver();
  const b = receiver();
  const w = await startWorld(ONLY_WELCOME + endpointToml(a.url, ["email.sent"]) + endpointToml(b.url, ["draft.created", "email.sent"], "second_secret_abcdefghij"));
  await w.signUp("ann");
  await w.signUp("bob");
  await w.evaluate();
  await deliverDue(webhookEnv(w));
  expect(a.received).toHaveLength(0);
  expect(b.bodies().map((x) => x.type)).toEqual(["draft.created", "draft.created"]);
  // Each endpoint's deliveries are signed with its own secret.
  for (const got of b.received) vf.webhooks.constructEvent(got.body, got.headers.get("x-vibefollow-signature"), "second_secret_abcdefghij", { now: w.clock.now() });
});

test("at most 8 attempts are in flight at once, shared out among the endpoints (the per-endpoint 4: next test)", async () => {
  const [a, b, c] = [receiver([], { status: 200, delayMs: 200 }), receiver([], { status: 200, delayMs: 200 }), receiver([], { status: 200, delayMs: 200 })];
  const w = await startWorld(ONLY_WELCOME + [a, b, c].map((r) => endpointToml(r.url, ["draft.created"])).join(""));
  for (let i = 0; i < 10; i++) await w.signUp(`u${i}`);
  await w.evaluate();
  let most = 0;
  const watch = setInterval(() => (most = Math.max(most, a.state.inFlight + b.state.inFlight + c.state.inFlight)), 5);
  const outcomes = await deliverDue(webhookEnv(w));
  clearInterval(watch);
  expect(outcomes.filter((o) => o.state === "delivered")).toHaveLength(30);
  // The slots are shared out in due order (a, b, c, a, b, c, …): each endpoint up to its 4, all 8 in use.
  expect([a, b, c].every((r) => r.state.maxInFlight >= 2 && r.state.maxInFlight <= 4)).toBe(true);
  expect(most).toBe(8);
});

test("an endpoint that answers only at the timeout holds back no other: what falls due meanwhile goes out at once", async () => {
  const slow = receiver([], { status: 200, delayMs: 4_000 });
  const fast = receiver();
  const w = await startWorld(ONLY_WELCOME + endpointToml(slow.url, ["draft.created"]) + endpointToml(fast.url, ["draft.created"]));
  // Six deliveries due to the slow endpoint first: it may take 4 of the 8 slots, not all of them.
  for (const id of ["s1", "s2", "s3", "s4", "s5", "s6"]) await w.signUp(id);
  await w.evaluate();
  const run = deliverDue(webhookEnv(w));
  // 3 s: well before the slow attempts end (4 s), which the old loop waited for.
  await until(() => fast.received.length === 6, 3_000, "the fast endpoint's first 6 deliveries");
  expect(slow.state.maxInFlight).toBe(4);
  // A new event while the slow attempts still hang: delivered to the fast endpoint without waiting for them.
  await w.signUp("late");
  await w.evaluate();
  await until(() => fast.received.length === 7, 3_000, "the fast endpoint's delivery of the late event");
  expect(slow.received.length).toBe(4); // still the first four, answering in about 4 s
  expect(JSON.parse(fast.received[6]!.body).data.external_user_id).toBe("late");
  expect((await run).filter((o) => o.state === "delivered")).toHaveLength(14);
});

test("the purge of delivered rows past 30 days runs under steady traffic, which keeps the delivery loop from ever coming round", async () => {
  const r = receiver([], { status: 200, delayMs: 200 }); // with a new event every 50 ms, attempts are always in flight
  const w = await startWorld(ONLY_WELCOME + endpointToml(r.url, ["draft.created"]));
  const { database, config } = w.server.ctx;
  // A delivered row past its 30 days, and a stream of new events that never leaves the loop idle.
  const [old] = await enqueueWebhook(database, "acme", "draft.created", { old: true });
  await database.execute({ sql: "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = ? WHERE id = ?", args: [w.clock.now() - 40 * 86_400_000, old!] });
  let streaming = true;
  const stream = (async () => {
    for (let i = 0; streaming; i++) {
      await enqueueWebhook(database, "acme", "draft.created", { stream: i });
      await Bun.sleep(50);
    }
  })();
  await Bun.sleep(500); // the stream is flowing before the service starts
  const service = webhookService({ database, config, intervalMs: 10 });
  await service.start();
  try {
    await until(async () => (await w.sql("SELECT count(*) AS n FROM webhook_deliveries WHERE id = ?", [old!]))[0]!.n === 0, 20_000, "the purge of the 40-day-old row");
  } finally {
    streaming = false;
    await stream;
    await service.stop();
  }
});

test("a claim that fails while attempts are in flight stops the claiming; the error comes once those are recorded", async () => {
  const r = receiver([], { status: 200, delayMs: 500 });
  const w = await startWorld(ONLY_WELCOME + endpointToml(r.url, ["draft.created"]));
  const { database } = w.server.ctx;
  for (let i = 0; i < 2; i++) await enqueueWebhook(database, "acme", "draft.created", { n: i });
  // The first claim takes both; the next one (a poll while they are in flight) fails, as a busy disk would.
  const read = database.read.bind(database);
  let reads = 0;
  database.read = (statement) => (++reads === 2 ? Promise.reject(new Error("disk I/O error")) : read(statement));
  try {
    const error = await deliverDue(webhookEnv(w)).then(() => undefined, (e: Error) => e);
    expect(error?.message).toBe("disk I/O error");
    // Not thrown from under the attempts: both were recorded first, and nothing else was claimed.
    expect((await countDeliveries(database, "acme")).delivered).toBe(2);
    expect(r.received).toHaveLength(2);
  } finally {
    database.read = read;
  }
});

test("redirects are followed only to the same host; to another host they fail the attempt", async () => {
  const other = receiver();
  const r = receiver([{ status: 307, headers: { location: "/moved" } }, { status: 308, headers: { location: `${other.url}/steal` } }], 200);
  const w = await startWorld(ONLY_WELCOME + endpointToml(r.url + "/hook", ["draft.created"]));
  await w.signUp("ann");
  await w.evaluate();
  const env = webhookEnv(w);
  // First attempt: 307 to /moved on the same host, then 308 to another host — refused, nothing reaches it.
  const [first] = await deliverDue(env);
  expect(r.received.map((x) => x.path)).toEqual(["/hook", "/moved"]);
  expect(first).toMatchObject({ state: "pending", status: 308, error: expect.stringContaining("redirect to another host") });
  expect(other.received).toHaveLength(0);
  w.clock.advance(30_000);
  expect((await deliverDue(env)).map((o) => o.state)).toEqual(["delivered"]);
});

test("up to 3 same-host redirects are followed in one attempt; a 4th fails it", async () => {
  const hop = (to: string) => ({ status: 307, headers: { location: to } });
  const r = receiver([hop("/r1"), hop("/r2"), hop("/r3")], 200);
  const w = await startWorld(ONLY_WELCOME + endpointToml(r.url + "/hook", ["draft.created"]));
  await w.signUp("ann");
  await w.evaluate();
  expect((await deliverDue(webhookEnv(w))).map((o) => o.state)).toEqual(["delivered"]);
  expect(r.received.map((x) => x.path)).toEqual(["/hook", "/r1", "/r2", "/r3"]);

  const four = receiver([hop("/r1"), hop("/r2"), hop("/r3"), hop("/r4")], 200);
  const w2 = await startWorld(ONLY_WELCOME + endpointToml(four.url + "/hook", ["draft.created"]));
  await w2.signUp("bob");
  await w2.evaluate();
  const [outcome] = await deliverDue(webhookEnv(w2));
  expect(outcome).toMatchObject({ state: "pending", status: 307, error: expect.stringContaining("too many redirects") });
  expect(four.received.map((x) => x.path)).toEqual(["/hook", "/r1", "/r2", "/r3"]);
});

test("an endpoint that cannot be reached is a failed attempt with the reason recorded", async () => {
  const r = receiver();
  const url = r.url;
  r.stop();
  receivers.pop();
  const w = await startWorld(ONLY_WELCOME + endpointToml(url, ["draft.created"]));
  await w.signUp("ann");
  await w.evaluate();
  const [outcome] = await deliverDue(webhookEnv(w));
  expect(outcome).toMatchObject({ state: "pending", status: null });
  const [row] = await listDeliveries(w.server.ctx.database, "acme");
  expect(row!.lastError).toBeTruthy();
  expect(row!.lastError).not.toContain(SECRET);
});

test("the running loop delivers what is due and deletes delivered rows older than 30 days", async () => {
  const r = receiver([200, 500], 200);
  const w = await startWorld(ONLY_WELCOME + endpointToml(r.url, ["email.sent"]));
  const db = w.server.ctx.database;
  await enqueueWebhook(db, "acme", "email.sent", { message_id: "msg_1" });
  await enqueueWebhook(db, "acme", "email.sent", { message_id: "msg_2" });
  await deliverDue(webhookEnv(w)); // both in flight at once: whichever arrives first gets the 200
  expect(await countDeliveries(db, "acme")).toEqual({ pending: 1, delivered: 1, dead: 0 });
  const [old] = (await listDeliveries(db, "acme", { state: "delivered" })).map((d) => d.id);
  const [late] = (await listDeliveries(db, "acme", { state: "pending" })).map((d) => d.id);
  w.clock.advance(31 * 86_400_000);
  const service = webhookService({ database: db, config: w.server.ctx.config, intervalMs: 10 });
  await service.start();
  try {
    const deadline = Date.now() + 20_000; // bounds a hang; the loop's 10 ms ticks need far less
    while ((await listDeliveries(db, "acme")).map((d) => `${d.id}:${d.state}`).join() !== `${late}:delivered` && Date.now() < deadline) await Bun.sleep(10);
  } finally {
    await service.stop();
  }
  expect((await listDeliveries(db, "acme")).map((d) => [d.id, d.state])).toEqual([[late!, "delivered"]]);
  expect(old).not.toBe(late);
});

test("a delivery whose endpoint left the config is dead-lettered at once (no secret to sign with)", async () => {
  const r = receiver();
  const w = await startWorld(ONLY_WELCOME + endpointToml(r.url, ["email.sent"]));
  const db = w.server.ctx.database;
  const [id] = await enqueueWebhook(db, "acme", "email.sent", { message_id: "msg_1" });
  const env = webhookEnv(w);
  const config = { ...env.config, projects: env.config.projects.map((p) => ({ ...p, webhooks: [] })) };
  expect(await deliverDue({ ...env, config })).toMatchObject([{ id, state: "dead", error: "endpoint is no longer in the configuration" }]);
  expect(r.received).toHaveLength(0);
  // Back in the config: re-sending delivers it.
  expect(await redeliver(db, id!)).toBe(true);
  expect((await deliverDue(env)).map((o) => o.state)).toEqual(["delivered"]);
});
