import { expect, test } from "bun:test";
import { DAY, HOUR, signUp, startWorld } from "./support";

test("feature_adoption fires once per user and feature for users who never used it", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "reports_nudge"
  kind = "feature_adoption"
  feature = "reports"
  after = "2d"`);
  for (const u of ["ann", "bob"]) await signUp(w, u);
  await w.track("bob", "feature_used", { feature: "export" });
  expect(await w.after(2 * DAY + HOUR, "reports_nudge")).toEqual(["ann", "bob"]);
  expect(await w.after(DAY, "first_feature")).toEqual(["ann"]); // any feature: bob used one
  expect(await w.after(5 * DAY)).toEqual([]);
  expect((await w.sql("SELECT occasion FROM rule_firings WHERE rule_id = 'reports_nudge'")).map((r) => r.occasion)).toEqual(["reports", "reports"]);
  // A user who signs up later and uses the feature never qualifies.
  await signUp(w, "cat");
  await w.track("cat", "feature_used", { feature: "reports" });
  expect(await w.after(3 * DAY + HOUR, "reports_nudge")).toEqual([]);
});

test("first_feature waits for `after` since sign-up", async () => {
  const w = await startWorld();
  await signUp(w, "ann");
  expect(await w.after(2 * DAY, "first_feature")).toEqual([]);
  expect(await w.after(DAY + HOUR, "first_feature")).toEqual(["ann"]);
});

test("first_feature skips users who cancelled or churned (the cancellation rules are theirs)", async () => {
  const w = await startWorld();
  for (const u of ["ann", "bob"]) await signUp(w, u);
  await w.track("bob", "subscription_changed", { to: "pro", mrr: 100 });
  await w.track("bob", "subscription_cancelled", { reason: "too_expensive" });
  expect(await w.after(3 * DAY + HOUR, "first_feature")).toEqual(["ann"]);
});

test("first_feature needs a sign-up (the event or the signup_date trait): a user known only from other events gets none", async () => {
  const w = await startWorld();
  await w.identify("pay", { email: "pay@example.com" });
  await w.track("pay", "subscription_changed", { to: "pro", mrr: 4900 }, w.clock.now() - 10 * DAY);
  await w.identify("trait", { email: "trait@example.com", traits: { signupDate: new Date(w.clock.now() - 10 * DAY).toISOString() } });
  expect(await w.after(HOUR, "first_feature")).toEqual(["trait"]);
});
