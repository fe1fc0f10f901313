import { expect, test } from "bun:test";
import { DAY, HOUR, MINUTE, signUp, startWorld } from "./support";

test("welcome fires once per user after its delay, never for users without email or never signed up", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "welcome"
  delay = "10m"`);
  await signUp(w, "ann");
  await signUp(w, "nomail", null);
  await w.identify("quiet"); // identified, never signed up
  expect(await w.after(5 * MINUTE, "welcome")).toEqual([]);
  expect(await w.after(6 * MINUTE, "welcome")).toEqual(["ann"]);
  // Re-runs and a second signup event are the same occasion: nothing new.
  expect(await w.after(1 * HOUR, "welcome")).toEqual([]);
  await w.track("ann", "user_signed_up", { plan: "pro", source: "again" });
  expect(await w.after(1 * DAY, "welcome")).toEqual([]);
  const firings = await w.sql("SELECT occasion, event_id FROM rule_firings WHERE rule_id = 'welcome'");
  expect(firings).toHaveLength(1);
  expect(firings[0]!.occasion).toBe("once");
  expect(firings[0]!.event_id).not.toBeNull();
});

test("users created by a backfill (bulk with old timestamps) get no welcome", async () => {
  const w = await startWorld();
  const old = new Date(w.clock.now() - 30 * DAY).toISOString();
  const users = await w.server.api("/api/v1/users/bulk", { body: { users: [{ external_user_id: "bob", email: "bob@example.com", traits: { signup_date: old } }] } });
  expect(users.status).toBe(200);
  const events = await w.server.api("/api/v1/events/bulk", {
    body: { events: [{ external_user_id: "bob", name: "user_signed_up", properties: { plan: "free", source: "import" }, timestamp: old }] },
  });
  expect(events.status).toBe(200);
  await signUp(w, "cat");
  expect(await w.after(MINUTE, "welcome")).toEqual(["cat"]);
  expect((await w.sql("SELECT backfilled FROM tracked_users WHERE external_user_id = 'bob'"))[0]!.backfilled).toBe(1);
});

test("a disabled default rule never fires", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "welcome"
  enabled = false`);
  await signUp(w, "ann");
  expect(await w.after(HOUR, "welcome")).toEqual([]);
});
