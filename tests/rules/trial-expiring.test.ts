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

test("trial_expiring alone (no trial_started) makes a signed-up user trialing, and the rule fires once for that trial; a paying user stays active", async () => {
  const w = await startWorld();
  for (const u of ["gus", "hal"]) await signUp(w, u);
  await w.track("hal", "subscription_changed", { to: "pro", mrr: 4900 });
  await w.track("gus", "trial_expiring", { daysLeft: 2 });
  await w.track("hal", "trial_expiring", { daysLeft: 2 });
  expect(await w.after(HOUR, "trial_expiring")).toEqual(["gus"]);
  const stages = await w.sql("SELECT external_user_id, stage FROM tracked_users ORDER BY external_user_id");
  expect(stages.map((r) => [r.external_user_id, r.stage])).toEqual([["gus", "trialing"], ["hal", "active"]]);
  // The next reminder of the same trial is no new trial.
  await w.track("gus", "trial_expiring", { daysLeft: 1 });
  expect(await w.after(HOUR, "trial_expiring")).toEqual([]);
});

test("a new trial_started is a new trial, also while the user is still trialing; its draft replaces the old trial's", async () => {
  const w = await startWorld();
  await signUp(w, "eve");
  await w.track("eve", "trial_started", { trialDays: 14 });
  expect(await w.after(11 * DAY + HOUR, "trial_expiring")).toEqual(["eve"]);
  const [first] = await w.sql("SELECT user_id, occasion FROM rule_firings WHERE rule_id = 'trial_expiring'");
  // A second trial (another plan, a sales extension) started before the first one ended.
  await w.track("eve", "trial_started", { trialDays: 2 });
  expect(await w.after(HOUR, "trial_expiring")).toEqual(["eve"]);
  expect(await w.after(HOUR, "trial_expiring")).toEqual([]);
  const project = w.server.ctx.config.projects[0]!;
  expect(await ruleStillHolds(w.server.ctx.database, project, "trial_expiring", Number(first!.user_id), String(first!.occasion), w.clock.now())).toBe(false);
});

test("a firing recorded under the former key (the stage's time) after the latest trial_started is not repeated", async () => {
  const w = await startWorld();
  await signUp(w, "fay");
  await w.track("fay", "trial_started", { trialDays: 14 });
  w.clock.advance(DAY);
  await w.track("fay", "trial_started", { trialDays: 2 });
  await w.settle();
  // What a run of the earlier version recorded for this (second) trial, keyed by the time fay became trialing.
  const fay = await w.id("fay");
  const [{ stage_changed_at }] = (await w.sql("SELECT stage_changed_at FROM tracked_users WHERE id = ?", [fay])) as [{ stage_changed_at: number }];
  await w.server.ctx.database.execute({
    sql: "INSERT INTO rule_firings (project_id, rule_id, user_id, occasion, fired_at) VALUES ('acme', 'trial_expiring', ?, ?, ?)",
    args: [fay, String(stage_changed_at), w.clock.now() + HOUR],
  });
  expect(await w.after(2 * HOUR, "trial_expiring")).toEqual([]);
  const project = w.server.ctx.config.projects[0]!;
  expect(await ruleStillHolds(w.server.ctx.database, project, "trial_expiring", fay, String(stage_changed_at), w.clock.now())).toBe(true);
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

test("a trial_started arriving late, for the trial a trial_expiring already made the user trialing in and mailed, is no new trial", async () => {
  const w = await startWorld();
  await signUp(w, "kim");
  const trialStart = w.clock.now();
  w.clock.advance(12 * DAY);
  // The billing provider's reminder comes first: kim becomes trialing and is mailed.
  await w.track("kim", "trial_expiring", { daysLeft: 2 });
  expect(await w.after(HOUR, "trial_expiring")).toEqual(["kim"]);
  // The same trial's trial_started, dated 12 days ago, arrives late (a backfill, a replay from quarantine).
  await w.track("kim", "trial_started", { trialDays: 14 }, trialStart);
  expect(await w.after(HOUR, "trial_expiring")).toEqual([]);
  const [firing] = await w.sql("SELECT user_id, occasion FROM rule_firings WHERE rule_id = 'trial_expiring'");
  const project = w.server.ctx.config.projects[0]!;
  expect(await ruleStillHolds(w.server.ctx.database, project, "trial_expiring", Number(firing!.user_id), String(firing!.occasion), w.clock.now())).toBe(true);
});
