import { afterAll, beforeAll, expect, test } from "bun:test";
import { drainQueue } from "../../src/pipeline";
import { startTestServer, type TestServer } from "../support/harness";
import { post } from "./support";

// The ingest → normaliser contract (docs/architecture.md): what the API enqueues, the normaliser applies.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer("", { background: false });
});
afterAll(() => server.close());

test("identify, track, batch and bulk rows are applied by the normaliser and leave the queue", async () => {
  expect((await post(server, "/api/v1/users", { external_user_id: "ann", email: "ann@example.com", traits: { plan: "pro", favouriteColour: "teal" } })).status).toBe(202);
  expect((await post(server, "/api/v1/events", { external_user_id: "ann", name: "feature_used", properties: { feature: "export", workspaceId: "w1" }, timestamp: "2026-01-02T03:04:05Z" })).status).toBe(202);
  expect((await post(server, "/api/v1/events/batch", { events: [{ external_user_id: "ann", name: "clicked" }, { external_user_id: "ann", name: "trial_started", properties: { trial_days: 14 } }] })).status).toBe(202);
  const bulk = await post(server, "/api/v1/events/bulk", { events: [{ external_user_id: "ann", name: "imported", timestamp: "2025-01-01T00:00:00Z" }, { external_user_id: "ann", name: "imported", timestamp: "2025-01-01T00:00:00Z" }] });
  expect(bulk.json.data.accepted).toBe(2);

  await drainQueue(server.ctx);
  const queue = await server.ctx.database.read("SELECT count(*) AS n FROM ingest_queue");
  expect(Number(queue.rows[0]!.n)).toBe(0);
  const user = (await server.ctx.database.read("SELECT email, plan, traits FROM tracked_users WHERE external_user_id = 'ann'")).rows[0]!;
  expect(user.email).toBe("ann@example.com");
  expect(user.plan).toBe("pro");
  const events = await server.ctx.database.read("SELECT name, occurred_at, payload FROM events ORDER BY id");
  const names = events.rows.map((r) => r.name);
  expect(names).toEqual(["feature_used", "clicked", "trial_started", "imported"]); // the bulk duplicate is skipped
  expect(Number(events.rows[0]!.occurred_at)).toBe(Date.parse("2026-01-02T03:04:05Z"));
  // The stored payload is what the API enqueued.
  expect(JSON.parse(String(events.rows[0]!.payload))).toEqual({ external_user_id: "ann", name: "feature_used", properties: { feature: "export", workspaceId: "w1" }, timestamp: "2026-01-02T03:04:05Z" });
});
