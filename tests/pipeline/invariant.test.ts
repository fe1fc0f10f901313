import { afterAll, beforeAll, expect, test } from "bun:test";
import type { TestServer } from "../support/harness";
import { assertAccounted, count, drain, enqueue, startPipelineServer } from "./support";

let server: TestServer;
beforeAll(async () => {
  server = await startPipelineServer();
});
afterAll(() => server.close());

/** A small deterministic PRNG, so a failure replays the same traffic. */
function rng(seed: number) {
  return () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
}

test("every acknowledged item ends applied, buffered or quarantined (mixed traffic through the real API)", async () => {
  const db = server.ctx.database;
  const random = rng(42);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  const users = Array.from({ length: 40 }, (_, i) => `inv-${i}`);
  const names = ["user_signed_up", "trial_started", "feature_used", "onboarding_step", "subscription_changed", "payment_failed", "custom_thing", "page_viewed"];
  const props = (name: string): Record<string, unknown> => {
    switch (name) {
      case "trial_started": return { trialDays: 14 };
      case "feature_used": return { feature: pick(["a", "b", "c"]) };
      case "onboarding_step": return { step: pick(["one", "two"]), completed: random() < 0.5 };
      case "subscription_changed": return { to: "pro", mrr: pick([0, 1000, 4900]) };
      default: return { workspaceId: pick(["w1", "w2"]) };
    }
  };
  const event = () => {
    const name = pick(names);
    const ts = new Date(Date.UTC(2026, 0, 1) + Math.floor(random() * 30) * 86_400_000).toISOString();
    return { external_user_id: pick(users), name, properties: props(name), timestamp: ts };
  };
  let tracks = 0;
  let identifies = 0;
  let duplicates = 0;
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 20; i++) {
      const r = random();
      if (r < 0.25) {
        const res = await server.api("/api/v1/users", { body: { external_user_id: pick(users), traits: { plan: "free", n: i } } });
        if (res.status === 202) identifies++;
      } else if (r < 0.6) {
        if ((await server.api("/api/v1/events", { body: event() })).status === 202) tracks++;
      } else if (r < 0.8) {
        const events = Array.from({ length: 5 }, event);
        if ((await server.api("/api/v1/events/batch", { body: { events } })).status === 202) tracks += events.length;
      } else if (r < 0.9) {
        // Bulk, with a deliberate duplicate and an invalid record (rejected, so not acknowledged).
        const e = event();
        const res = await server.api("/api/v1/events/bulk", { body: { events: [e, e, { external_user_id: "", name: "x" }] } });
        expect(res.status).toBe(200);
        tracks += ((await res.json()) as { data: { accepted: number } }).data.accepted;
      } else {
        const res = await server.api("/api/v1/users/bulk", { body: { users: [{ external_user_id: pick(users) }, { external_user_id: `new-${round}-${i}` }] } });
        identifies += ((await res.json()) as { data: { accepted: number } }).data.accepted;
      }
    }
    // What slipped past the API (segment, replay) and cannot be applied.
    await enqueue(db, [
      { kind: "track", payload: { external_user_id: pick(users), name: "x", properties: { aB: 1, a_b: 2 } }, source: "segment" },
      { kind: "track", payload: "{broken", source: "replay" },
    ]);
    tracks += 2;
    const r = await drain(server);
    duplicates += r.duplicates;
    await assertAccounted(db, tracks, identifies, duplicates);
  }
  expect(tracks).toBeGreaterThan(100);
  expect(duplicates).toBeGreaterThan(0);
  expect(await count(db, "SELECT count(*) AS n FROM quarantine")).toBeGreaterThanOrEqual(12);
  expect(await count(db, "SELECT count(*) AS n FROM events")).toBeGreaterThan(50);
  // No user twice, and each user's counter matches its stored events.
  expect(await count(db, "SELECT count(*) AS n FROM (SELECT external_user_id FROM tracked_users GROUP BY project_id, external_user_id HAVING count(*) > 1)")).toBe(0);
  expect(await count(db, "SELECT count(*) AS n FROM tracked_users u WHERE event_count != (SELECT count(*) FROM events e WHERE e.user_id = u.id)")).toBe(0);
});
