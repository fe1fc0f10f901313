import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { mapEventName, SEGMENT_EVENT_MAP } from "../../src/segment";
import type { TestServer } from "../support/harness";
import { count, drain, eventsOf, mid, rows, send, startSegmentServer, userRow } from "./support";

/** What Segment messages become once the normaliser has applied them: users, events, buffer, quarantine. */
let server: TestServer;
beforeAll(async () => {
  server = await startSegmentServer();
});
afterAll(() => server.close());
afterEach(() => setClock(systemClock));

const db = () => server.ctx.database;
const T0 = Date.parse("2026-03-02T12:00:00.000Z");
const iso = (t: number) => new Date(t).toISOString();

async function identify(userId: string, traits: Record<string, unknown> = {}) {
  expect((await send(server, "/v1/identify", { userId, traits, messageId: mid() })).status).toBe(200);
}

async function batch(messages: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  const res = await send(server, "/v1/batch", { batch: messages.map((m) => ({ messageId: mid(), ...m })), ...extra });
  expect(res.status).toBe(200);
}

test("the B2B SaaS names map onto the canonical events, their Segment property spellings fill the canonical ones", async () => {
  setClock(manualClock(T0));
  await identify("map-1", { email: "m@example.com" });
  const tr = (event: string, properties: Record<string, unknown> = {}) => ({ type: "track", userId: "map-1", event, properties });
  await batch([
    tr("Signed Up", { plan: "free", source: "ads" }),
    tr("Trial Started", { trial_start_date: "2026-03-02T12:00:00Z", trial_end_date: "2026-03-16T12:00:00Z" }),
    tr("Invite Sent", { invitee_email: "friend@example.com", invitee_role: "member" }),
    tr("Onboarding Step Completed", { step_name: "connect_data" }),
    tr("Feature Used", { featureName: "export" }),
    tr("Subscription Changed", { plan_name: "pro", previousPlan: "free", interval: "month", mrr: 4900 }),
    tr("Invoice Payment Failed", { reason: "card_declined" }),
    tr("Subscription Canceled", { reason: "too expensive" }),
    tr("trial_expiring", { daysLeft: 3 }),
    tr("Order Completed", { orderId: "o1" }),
    tr("ReportExported"),
  ]);
  const stats = await drain(server);
  expect(stats.quarantined).toBe(0);
  const events = await eventsOf(db(), "map-1");
  expect(events.map((e) => e.name)).toEqual([
    "user_signed_up",
    "trial_started",
    "user_invited",
    "onboarding_step",
    "feature_used",
    "subscription_changed",
    "payment_failed",
    "subscription_cancelled",
    "trial_expiring",
    "order_completed",
    "report_exported",
  ]);
  expect(events[1]!.properties.trial_days).toBe(14);
  expect(events[2]!.properties).toMatchObject({ invited_email: "friend@example.com", invitee_email: "friend@example.com" });
  expect(events[3]!.properties).toMatchObject({ step: "connect_data", completed: true });
  expect(events[4]!.properties.feature).toBe("export");
  expect(events[5]!.properties).toMatchObject({ to: "pro", from: "free", mrr: 4900 });
  expect(events[9]!.properties).toEqual({ order_id: "o1" });
  const user = (await userRow(db(), "map-1"))!;
  expect(user.plan).toBe("pro");
  expect(user.stage).toBe("cancelled");
  expect(user.trial_ends_at).toBe(Date.parse("2026-03-05T12:00:00Z")); // trial_expiring: occurred + 3 days
});

test("the mapping table has SPEC §13's examples and reaches all nine canonical events", () => {
  expect(SEGMENT_EVENT_MAP["signed up"]).toBe("user_signed_up");
  expect(SEGMENT_EVENT_MAP["trial started"]).toBe("trial_started");
  expect(SEGMENT_EVENT_MAP["invite sent"]).toBe("user_invited");
  const targets = new Set(Object.values(SEGMENT_EVENT_MAP));
  for (const name of ["user_signed_up", "trial_started", "feature_used", "onboarding_step", "subscription_changed", "subscription_cancelled", "payment_failed", "trial_expiring", "user_invited"]) {
    expect(targets.has(name)).toBe(true);
  }
});

test("names match ignoring case and separators; others are snake_cased", () => {
  for (const spelling of ["Signed Up", "signed_up", "SIGNED-UP", "  signed   up "]) expect(mapEventName(spelling)).toBe("user_signed_up");
  expect(mapEventName("Trial Ending Soon")).toBe("trial_expiring");
  expect(mapEventName("Account Deleted")).toBe("account_deleted");
  expect(mapEventName("Trial Ended")).toBe("trial_ended");
  expect(mapEventName("reportExported")).toBe("report_exported");
  expect(mapEventName("user_signed_up")).toBe("user_signed_up");
  // Punctuation breaks words like a space does (SPEC §13: "other names are snake_cased").
  expect(mapEventName("Cart: Item Added")).toBe("cart_item_added");
  expect(mapEventName("Page.Viewed")).toBe("page_viewed");
  expect(mapEventName("Product Viewed (v2)")).toBe("product_viewed_v2");
  expect(mapEventName("Some-Thing Weird!")).toBe("some_thing_weird");
  expect(mapEventName("Größe geändert")).toBe("größe_geändert");
  expect(mapEventName("$pageview")).toBe("$pageview"); // still reserved: the API refuses it
  expect(mapEventName("!!!")).toBe("!!!");
});

test("trial_expiring takes days_left from trial_end_date when it is not sent", async () => {
  setClock(manualClock(T0));
  await identify("map-5");
  await batch([{ type: "track", userId: "map-5", event: "Trial Ending", properties: { trial_end_date: iso(T0 + 2 * 86_400_000) } }]);
  expect((await drain(server)).quarantined).toBe(0);
  const [e] = await eventsOf(db(), "map-5");
  expect(e!.name).toBe("trial_expiring");
  expect(e!.properties.days_left).toBe(2);
  expect((await userRow(db(), "map-5"))!.trial_ends_at).toBe(T0 + 2 * 86_400_000);
});

test("a canonical property of the wrong type is not refused at the edge: the normaliser quarantines it", async () => {
  await identify("map-2");
  await batch([{ type: "track", userId: "map-2", event: "Feature Used", properties: { feature: 42 } }, { type: "track", userId: "map-2", event: "Clicked" }]);
  const stats = await drain(server);
  expect(stats.quarantined).toBe(1);
  const q = await rows(db(), "SELECT reason, source, payload FROM quarantine WHERE external_user_id = 'map-2'");
  expect(q.map((r) => [r.reason, r.source])).toEqual([["invalid_property", "segment"]]);
  expect(JSON.parse(q[0]!.payload).segment.event).toBe("Feature Used");
  expect((await eventsOf(db(), "map-2")).map((e) => e.name)).toEqual(["clicked"]);
});

test("messages without a user or an event are quarantined with a reason, and do not sink the rest of the batch", async () => {
  await identify("map-3");
  await batch([
    { type: "track", event: "Orphan" },
    { type: "track", userId: "map-3" },
    { type: "identify", traits: { email: "nobody@example.com" } },
    { type: "track", userId: "map-3", event: "Kept" },
  ]);
  const stats = await drain(server);
  expect(stats.quarantined).toBe(3);
  expect((await eventsOf(db(), "map-3")).map((e) => e.name)).toEqual(["kept"]);
  expect(await count(db(), "SELECT count(*) AS n FROM quarantine WHERE source = 'segment' AND reason = 'invalid_payload'")).toBe(3);
});

test("identify: Segment's reserved traits reach their columns (company object, first/last name, createdAt)", async () => {
  await identify("map-4", {
    email: "grace@example.com",
    firstName: "Grace",
    lastName: "Hopper",
    createdAt: "2025-12-01T08:00:00Z",
    company: { id: "c-9", name: "Navy", plan: "enterprise" },
    title: "Admiral",
  });
  await drain(server);
  const user = (await userRow(db(), "map-4"))!;
  expect(user.email).toBe("grace@example.com");
  expect(user.name).toBe("Grace Hopper");
  expect(user.company).toBe("Navy");
  expect(user.signup_date).toBe(Date.parse("2025-12-01T08:00:00Z"));
  expect(JSON.parse(user.traits)).toMatchObject({ company_id: "c-9", first_name: "Grace", last_name: "Hopper", title: "Admiral" });
});

test("timestamp is corrected for client clock skew: occurred = timestamp + (receivedAt − sentAt)", async () => {
  setClock(manualClock(T0));
  await identify("skew");
  // The client's clock runs 10 minutes fast: it stamped the event at its 12:05 and sent the batch at its 12:10,
  // which is our 12:00.
  const fast = 10 * 60_000;
  await batch([{ type: "track", userId: "skew", event: "Batched", timestamp: iso(T0 - 5 * 60_000 + fast) }], { sentAt: iso(T0 + fast) });
  // A message's own sentAt wins over the batch's; a single call carries it in the body.
  await batch([{ type: "track", userId: "skew", event: "Own Sent At", timestamp: iso(T0 - 2 * 3_600_000), sentAt: iso(T0 - 3_600_000) }], { sentAt: iso(T0) });
  expect((await send(server, "/v1/track", { userId: "skew", event: "Single", timestamp: iso(T0 + 30_000), sentAt: iso(T0 + 60_000), messageId: mid() })).status).toBe(200);
  // No sentAt: the timestamp as sent. No timestamp: the receive time. A replayed export (has receivedAt): as is.
  await batch([
    { type: "track", userId: "skew", event: "No Sent At", timestamp: iso(T0 - 7_000) },
    { type: "track", userId: "skew", event: "No Timestamp" },
    { type: "track", userId: "skew", event: "Exported", timestamp: iso(T0 - 86_400_000), sentAt: iso(T0 - 86_400_000 + 5000), receivedAt: iso(T0 - 86_400_000 + 6000) },
  ]);
  await drain(server);
  const at = Object.fromEntries((await eventsOf(db(), "skew")).map((e) => [e.name, e.occurred_at]));
  expect(at).toEqual({
    batched: T0 - 5 * 60_000,
    own_sent_at: T0 - 3_600_000,
    single: T0 - 30_000,
    no_sent_at: T0 - 7_000,
    no_timestamp: T0,
    exported: T0 - 86_400_000,
  });
});

test("an unparsable timestamp is quarantined (invalid_timestamp), not guessed", async () => {
  await identify("skew-2");
  await batch([{ type: "track", userId: "skew-2", event: "Bad Time", timestamp: "yesterday-ish" }]);
  const stats = await drain(server);
  expect(stats.quarantined).toBe(1);
  expect((await rows(db(), "SELECT reason FROM quarantine WHERE external_user_id = 'skew-2'"))[0]!.reason).toBe("invalid_timestamp");
});

test("numeric userIds are taken as strings", async () => {
  await send(server, "/v1/identify", { userId: 12345, traits: { email: "n@example.com" }, messageId: mid() });
  await send(server, "/v1/track", { userId: 12345, event: "Clicked", messageId: mid() });
  await drain(server);
  expect((await eventsOf(db(), "12345")).map((e) => e.name)).toEqual(["clicked"]);
});
