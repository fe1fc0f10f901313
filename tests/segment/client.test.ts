import { Analytics } from "@segment/analytics-node";
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { TestServer } from "../support/harness";
import { count, drain, eventsOf, rows, startSegmentServer, userRow } from "./support";

/** The real third-party client, pointed at the real server, exactly as a team would configure it. */
let server: TestServer;
beforeAll(async () => {
  server = await startSegmentServer();
});
afterAll(() => server.close());

function client(writeKey = server.apiKey) {
  return new Analytics({ writeKey, host: server.url, path: "/v1/batch", flushAt: 3, flushInterval: 50, maxRetries: 1 });
}

test("@segment/analytics-node: identify and track land as a user and events, canonical names mapped", async () => {
  const analytics = client();
  const responses: number[] = [];
  analytics.on("http_response", (r) => responses.push(r.status));
  analytics.identify({ userId: "seg-1", traits: { email: "ada@example.com", name: "Ada", plan: "pro", favouriteColour: "green" } });
  analytics.track({ userId: "seg-1", event: "Signed Up", properties: { plan: "pro", source: "ads" } });
  analytics.track({ userId: "seg-1", event: "Trial Started", properties: { trialDays: 14 } });
  analytics.track({ userId: "seg-1", event: "Report Exported", properties: { format: "csv" } });
  analytics.track({ userId: "seg-1", event: "Feature Used", properties: { feature: "export" } });
  analytics.page({ userId: "seg-1", name: "Pricing" });
  await analytics.closeAndFlush({ timeout: 5000 });
  expect(responses.length).toBeGreaterThanOrEqual(2); // flushAt 3: more than one batch request
  expect(responses.every((s) => s === 200)).toBe(true);

  const stats = await drain(server);
  expect(stats.quarantined).toBe(0);
  const user = (await userRow(server.ctx.database, "seg-1"))!;
  expect(user).toBeDefined();
  expect(user.email).toBe("ada@example.com");
  expect(user.name).toBe("Ada");
  expect(JSON.parse(user.traits)).toEqual({ favourite_colour: "green" });
  expect(user.stage).toBe("trialing");
  const events = await eventsOf(server.ctx.database, "seg-1");
  expect(events.map((e) => e.name)).toEqual(["user_signed_up", "trial_started", "report_exported", "feature_used"]);
  expect(events[2]!.properties).toEqual({ format: "csv" });
  // The stored payload keeps the Segment message (messageId, original name, context) and never the write key.
  expect(events[0]!.payload.segment.event).toBe("Signed Up");
  expect(typeof events[0]!.payload.segment.messageId).toBe("string");
  expect(events[0]!.payload.segment.context.library.name).toBe("@segment/analytics-node");
  expect(JSON.stringify(events)).not.toContain(server.apiKey);
  expect(await count(server.ctx.database, "SELECT count(*) AS n FROM ingest_queue WHERE source = 'segment'")).toBe(0);
});

test("@segment/analytics-node: rows are queued with source segment, one per message, in order", async () => {
  const analytics = client();
  analytics.track({ userId: "seg-2", event: "Clicked Button" });
  analytics.identify({ userId: "seg-2", traits: { email: "b@example.com" } });
  analytics.track({ userId: "seg-2", event: "Clicked Button" });
  await analytics.closeAndFlush({ timeout: 5000 });
  const queued = await rows(server.ctx.database, "SELECT kind, source, payload FROM ingest_queue ORDER BY seq");
  expect(queued.map((q) => [q.kind, q.source])).toEqual([
    ["track", "segment"],
    ["identify", "segment"],
    ["track", "segment"],
  ]);
  expect(JSON.parse(queued[0]!.payload)).toMatchObject({ external_user_id: "seg-2", name: "clicked_button" });
  await drain(server);
  expect((await eventsOf(server.ctx.database, "seg-2")).length).toBe(2);
});

test("@segment/analytics-node: a wrong write key is refused (401) and nothing is stored", async () => {
  const analytics = client("sk_live_" + "x".repeat(40));
  const errors: unknown[] = [];
  const statuses: number[] = [];
  analytics.on("error", (e) => errors.push(e));
  analytics.on("http_response", (r) => statuses.push(r.status));
  analytics.track({ userId: "seg-bad", event: "Clicked" });
  await analytics.closeAndFlush({ timeout: 5000 });
  expect(statuses).toEqual([401]);
  expect(errors.length).toBe(1);
  expect(await count(server.ctx.database, "SELECT count(*) AS n FROM ingest_queue")).toBe(0);
});

test("@segment/analytics-node: the same messageId sent twice is stored once", async () => {
  for (let i = 0; i < 2; i++) {
    const analytics = client();
    analytics.track({ userId: "seg-3", event: "Clicked Button", messageId: "fixed-message-1" });
    await analytics.closeAndFlush({ timeout: 5000 });
  }
  await drain(server);
  // seg-3 was never identified: its one event waits in the buffer.
  expect(await count(server.ctx.database, "SELECT count(*) AS n FROM event_buffer WHERE external_user_id = 'seg-3'")).toBe(1);
});
