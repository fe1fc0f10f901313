import { expect, test } from "bun:test";
import { previewRule, ruleStillHolds } from "../../src/rules";
import { DAY, HOUR, MINUTE, signUp, startWorld } from "./support";

test("cancellation_save after 1h in cancelled, churn after the grace, win_back 30 days after churning", async () => {
  const w = await startWorld();
  for (const u of ["ann", "bob"]) {
    await signUp(w, u);
    await w.track(u, "subscription_changed", { to: "pro", mrr: 4900 });
    await w.track(u, "subscription_cancelled", { reason: "too_expensive", effectiveAt: new Date(w.clock.now()).toISOString() });
  }
  w.clock.advance(20 * MINUTE);
  await w.track("bob", "subscription_changed", { to: "pro", mrr: 4900 }); // came back before the save email
  expect(await w.after(30 * MINUTE, "cancellation_save")).toEqual([]);
  expect(await w.after(11 * MINUTE, "cancellation_save")).toEqual(["ann"]);
  expect(await w.after(HOUR, "cancellation_save")).toEqual([]);

  // churn_grace (14d) after effectiveAt, the evaluator moves ann to churned and records it.
  expect(await w.after(14 * DAY, "win_back")).toEqual([]);
  const [user] = await w.sql("SELECT stage FROM tracked_users WHERE external_user_id = 'ann'");
  expect(user!.stage).toBe("churned");
  expect(await w.sql("SELECT to_stage FROM stage_history h JOIN tracked_users u ON u.id = h.user_id WHERE u.external_user_id = 'ann' AND to_stage = 'churned'")).toHaveLength(1);
  expect(await w.after(29 * DAY, "win_back")).toEqual([]);
  expect(await w.after(1 * DAY + HOUR, "win_back")).toEqual(["ann"]);
  expect(await w.after(DAY, "win_back")).toEqual([]);
});

test("a new cancellation after coming back is a new occasion", async () => {
  const w = await startWorld();
  await signUp(w, "cat");
  await w.track("cat", "subscription_changed", { to: "pro", mrr: 4900 });
  await w.track("cat", "subscription_cancelled", { reason: "x" });
  expect(await w.after(2 * HOUR, "cancellation_save")).toEqual(["cat"]);
  await w.track("cat", "subscription_changed", { to: "pro", mrr: 4900 });
  expect(await w.after(2 * HOUR, "cancellation_save")).toEqual([]);
  await w.track("cat", "subscription_cancelled", { reason: "y" });
  expect(await w.after(2 * HOUR, "cancellation_save")).toEqual(["cat"]);
  expect(await w.sql("SELECT DISTINCT occasion FROM rule_firings WHERE rule_id = 'cancellation_save'")).toHaveLength(2);
});

test("a churn that is due counts before a run applies it: dry run, preview and pre-send check agree with the run", async () => {
  const w = await startWorld();
  await signUp(w, "dan");
  await w.track("dan", "subscription_changed", { to: "pro", mrr: 4900 });
  await w.track("dan", "subscription_cancelled", { reason: "x" });
  expect(await w.after(2 * HOUR, "cancellation_save")).toEqual(["dan"]);
  const project = w.server.ctx.config.projects[0]!;
  const db = w.server.ctx.database;
  const [firing] = await w.sql("SELECT user_id, occasion FROM rule_firings WHERE rule_id = 'cancellation_save'");

  // 14 days of grace and 30 more, with no evaluator run: dan is churned in fact, not yet in the table.
  w.clock.advance(45 * DAY);
  const at = w.clock.now();
  const dry = Object.fromEntries((await w.evaluate({ dryRun: true })).rules.map((r) => [r.rule, r.matches]));
  expect(dry).toMatchObject({ win_back: 1, cancellation_save: 0 });
  const preview = await previewRule(db, project, "win_back", at);
  expect(preview!.matches.map((m) => m.externalUserId)).toEqual(["dan"]);
  expect((await previewRule(db, project, "cancellation_save", at))!.total).toBe(0);
  expect(await ruleStillHolds(db, project, "cancellation_save", Number(firing!.user_id), String(firing!.occasion), at)).toBe(false);

  const real = await w.evaluate();
  const matched = real.matches.filter((m) => m.ruleId === "win_back" || m.ruleId === "cancellation_save");
  expect(matched.map((m) => m.ruleId)).toEqual(["win_back"]);
  expect(matched[0]!.occasion).toBe(preview!.matches[0]!.occasion); // the time the churn is recorded at
  expect(await w.sql("SELECT stage FROM tracked_users WHERE external_user_id = 'dan'")).toEqual([{ stage: "churned" }]);
});
