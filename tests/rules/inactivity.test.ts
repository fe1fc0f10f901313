import { expect, test } from "bun:test";
import { ruleStillHolds } from "../../src/rules";
import { DAY, HOUR, signUp, startWorld } from "./support";

test("inactivity fires once per inactive spell, never for cancelled users", async () => {
  const w = await startWorld();
  for (const u of ["ann", "bob"]) await signUp(w, u);
  await w.track("bob", "subscription_changed", { to: "pro", mrr: 100 });
  await w.track("bob", "subscription_cancelled", { reason: "x" });
  expect(await w.after(13 * DAY, "inactive_14d")).toEqual([]);
  expect(await w.after(DAY + HOUR, "inactive_14d")).toEqual(["ann"]);
  expect(await w.after(10 * DAY, "inactive_14d")).toEqual([]);
  // Back, then silent again: a new spell.
  await w.track("ann", "page_viewed", { path: "/" });
  expect(await w.after(13 * DAY, "inactive_14d")).toEqual([]);
  expect(await w.after(DAY + HOUR, "inactive_14d")).toEqual(["ann"]);
  expect(await w.sql("SELECT occasion FROM rule_firings WHERE rule_id = 'inactive_14d'")).toHaveLength(2);
});

test("a late event dated inside the silence starts no second spell, and the spell's firing still holds", async () => {
  const w = await startWorld();
  await signUp(w, "ann");
  const start = w.clock.now();
  expect(await w.after(15 * DAY, "inactive_14d")).toEqual(["ann"]);
  const [firing] = await w.sql("SELECT occasion FROM rule_firings WHERE rule_id = 'inactive_14d'");
  // A delayed client (or a backfill) reports activity from 14½ days ago: still silent for 14 days.
  await w.track("ann", "page_viewed", { path: "/" }, start + 12 * HOUR);
  expect(await w.after(HOUR, "inactive_14d")).toEqual([]);
  const project = w.server.ctx.config.projects[0]!;
  expect(await ruleStillHolds(w.server.ctx.database, project, "inactive_14d", await w.id("ann"), String(firing!.occasion))).toBe(true);
  // Activity after the email ends the spell: silence after it is a new one.
  await w.track("ann", "page_viewed", { path: "/" });
  expect(await w.after(15 * DAY, "inactive_14d")).toEqual(["ann"]);
  expect(await ruleStillHolds(w.server.ctx.database, project, "inactive_14d", await w.id("ann"), String(firing!.occasion))).toBe(false);
});

test("inactivity never fires for churned users either", async () => {
  // A short churn grace, so bob is churned (not merely cancelled) well before he has been silent for 14 days.
  const w = await startWorld(`churn_grace = "1d"`);
  for (const u of ["ann", "bob"]) await signUp(w, u);
  await w.track("bob", "subscription_changed", { to: "pro", mrr: 100 });
  await w.track("bob", "subscription_cancelled", { reason: "x" });
  expect(await w.after(2 * DAY, "inactive_14d")).toEqual([]);
  expect(await w.sql("SELECT stage FROM tracked_users WHERE external_user_id = 'bob'")).toEqual([{ stage: "churned" }]);
  expect(await w.after(13 * DAY, "inactive_14d")).toEqual(["ann"]);
});
