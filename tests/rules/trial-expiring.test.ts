import { expect, test } from "bun:test";
import { ruleStillHolds } from "../../src/rules";
import { DAY, HOUR, signUp, startWorld } from "./support";

test("trial_expiring fires once per trial when the end is within days_before, not for converted users", async () => {
  const w = await startWorld();
  for (const u of ["ann", "bob", "cat"]) await signUp(w, u);
  await w.track("ann", "trial_started", { trialDays: 14 });
  await w.track("bob", "trial_started", { trialDays: 14 });
  await w.track("bob", "subscription_changed", { to: "pro", mrr: 4900 }); // converted
  await w.track("cat", "trial_started", { trialDays: 30 });
  expect(await w.after(10 * DAY, "trial_expiring")).toEqual([]); // ends in 4 days
  expect(await w.after(1 * DAY + HOUR, "trial_expiring")).toEqual(["ann"]);
  // A trial_expiring event recomputes the end of the same trial: no second email.
  await w.track("ann", "trial_expiring", { daysLeft: 2 });
  expect(await w.after(HOUR, "trial_expiring")).toEqual([]);
  expect(await w.after(1 * DAY, "trial_expiring")).toEqual([]);
  // cat's trial is a different one, reached later.
  expect(await w.after(15 * DAY, "trial_expiring")).toEqual(["cat"]);
});

test("the pre-send re-check fails once the user converted", async () => {
  const w = await startWorld();
  for (const u of ["ann", "dan"]) {
    await signUp(w, u);
    await w.track(u, "trial_started", { trialDays: 3 });
  }
  expect(await w.after(HOUR, "trial_expiring")).toEqual(["ann", "dan"]);
  const project = w.server.ctx.config.projects[0]!;
  const firings = await w.sql("SELECT user_id, occasion FROM rule_firings WHERE rule_id = 'trial_expiring' ORDER BY user_id");
  await w.track("ann", "subscription_changed", { to: "pro", mrr: 4900 });
  await w.settle();
  const [ann, dan] = firings.map((f) => [Number(f.user_id), String(f.occasion)] as const);
  expect(await ruleStillHolds(w.server.ctx.database, project, "trial_expiring", ann![0], ann![1], w.clock.now())).toBe(false);
  expect(await ruleStillHolds(w.server.ctx.database, project, "trial_expiring", dan![0], dan![1], w.clock.now())).toBe(true);
  expect(await ruleStillHolds(w.server.ctx.database, project, "trial_expiring", dan![0], "some other trial", w.clock.now())).toBe(false);
});
