import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import type { TestServer } from "../support/harness";
import { drain, eventsOf, mid, send, startSegmentServer, userRow } from "./support";

/**
 * RudderStack speaks the Segment API with two differences in shape (its event spec, "common fields"): the
 * client's event time is `originalTimestamp` (there is no `timestamp`), and its SDKs put an identify's traits
 * in `context.traits`. SPEC §13 names RudderStack as a sender that must work without code changes.
 */
let server: TestServer;
beforeAll(async () => {
  server = await startSegmentServer();
});
afterAll(() => server.close());
afterEach(() => setClock(systemClock));

const db = () => server.ctx.database;
const T0 = Date.parse("2026-03-02T12:00:00.000Z");
const iso = (t: number) => new Date(t).toISOString();

/** The common fields a RudderStack SDK adds to every message. */
const common = (at: number, sentAt: number) => ({
  messageId: mid("rs"),
  channel: "web",
  rudderId: "r-1",
  anonymousId: "rs-anon",
  originalTimestamp: iso(at),
  sentAt: iso(sentAt),
  integrations: { All: true },
});

test("RudderStack identify: traits in context.traits reach the user's columns and traits", async () => {
  setClock(manualClock(T0));
  const identify = {
    type: "identify",
    userId: "rs-1",
    ...common(T0, T0),
    context: { traits: { email: "rs@example.com", name: "Richard Hendricks", plan: "pro", logins: 2 }, library: { name: "RudderLabs JavaScript SDK" } },
  };
  expect((await send(server, "/v1/batch", { batch: [identify], sentAt: iso(T0) })).status).toBe(200);
  // Segment's shape (top-level traits) wins where both are sent, as rudder-sdk-node sends them.
  expect((await send(server, "/v1/identify", { userId: "rs-2", ...common(T0, T0), traits: { email: "top@example.com" }, context: { traits: { email: "ctx@example.com" } } })).status).toBe(200);
  await drain(server);
  const user = (await userRow(db(), "rs-1"))!;
  expect([user.email, user.name, user.plan]).toEqual(["rs@example.com", "Richard Hendricks", "pro"]);
  expect(JSON.parse(user.traits)).toMatchObject({ logins: 2 });
  expect((await userRow(db(), "rs-2"))!.email).toBe("top@example.com");
});

test("RudderStack track: originalTimestamp is the event time, corrected by sentAt like Segment's timestamp", async () => {
  setClock(manualClock(T0));
  expect((await send(server, "/v1/identify", { userId: "rs-3", traits: { email: "rs3@example.com" }, messageId: mid() })).status).toBe(200);
  // Queued two hours on the client (a persisted queue) and sent with a clock 10 minutes fast.
  const fast = 10 * 60_000;
  const track = { type: "track", userId: "rs-3", event: "Feature Used", properties: { feature: "export" }, ...common(T0 - 2 * 3_600_000 + fast, T0 + fast) };
  expect((await send(server, "/v1/batch", { batch: [track], sentAt: iso(T0 + fast) })).status).toBe(200);
  // A `timestamp` still wins over originalTimestamp (rudder-sdk-node keeps a caller's timestamp beside it).
  const both = { type: "track", userId: "rs-3", event: "Both Times", timestamp: iso(T0 - 60_000), ...common(T0 - 5_000, T0) };
  expect((await send(server, "/v1/track", both)).status).toBe(200);
  await drain(server);
  const at = Object.fromEntries((await eventsOf(db(), "rs-3")).map((e) => [e.name, e.occurred_at]));
  expect(at).toEqual({ feature_used: T0 - 2 * 3_600_000, both_times: T0 - 60_000 });
});
