import { expect, test } from "bun:test";
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
