import { expect, test } from "bun:test";
import { DAY, HOUR, signUp, startWorld } from "./support";

const step = (step: string, completed: boolean) => ({ step, completed });

test("onboarding_stalled fires once per stalled step after stalled_after of no step activity", async () => {
  const w = await startWorld();
  for (const u of ["ann", "bob", "cat"]) await signUp(w, u);
  await w.track("ann", "onboarding_step", step("profile", true));
  await w.track("ann", "onboarding_step", step("invite", false));
  await w.track("bob", "onboarding_step", step("profile", true)); // last step seen is completed: not stalled
  // cat has no steps at all
  expect(await w.after(1 * DAY, "onboarding_stalled")).toEqual([]);
  expect(await w.after(1 * DAY + HOUR, "onboarding_stalled")).toEqual(["ann"]);
  expect(await w.after(3 * DAY, "onboarding_stalled")).toEqual([]);
  expect((await w.sql("SELECT occasion FROM rule_firings WHERE rule_id = 'onboarding_stalled'")).map((r) => r.occasion)).toEqual(["invite"]);

  // Progress, then stall on a new step: a new occasion.
  await w.track("ann", "onboarding_step", step("invite", true));
  await w.track("ann", "onboarding_step", step("billing", false));
  expect(await w.after(1 * DAY, "onboarding_stalled")).toEqual([]);
  expect(await w.after(1 * DAY + HOUR, "onboarding_stalled")).toEqual(["ann"]);
  expect((await w.sql("SELECT occasion FROM rule_firings WHERE rule_id = 'onboarding_stalled' ORDER BY id")).map((r) => r.occasion)).toEqual(["invite", "billing"]);
});

test("with final_step, only users who have not completed it qualify", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "onboarding_stalled"
  final_step = "done"
  stalled_after = "1d"`);
  for (const u of ["dan", "eve"]) await signUp(w, u);
  await w.track("dan", "onboarding_step", step("profile", true));
  await w.track("eve", "onboarding_step", step("done", true));
  await w.track("eve", "onboarding_step", step("extra", false));
  expect(await w.after(1 * DAY + HOUR, "onboarding_stalled")).toEqual(["dan"]);
});

test("steps touched in the same millisecond: the last step seen is the one that arrived last, not the first in the alphabet", async () => {
  const w = await startWorld();
  for (const u of ["ann", "bob"]) await signUp(w, u);
  // All at one instant (the clock does not move): a batch, or a client with second-precision timestamps.
  await w.track("ann", "onboarding_step", step("b_step", false));
  await w.track("ann", "onboarding_step", step("a_step", true)); // last seen, and completed: not stalled
  await w.track("bob", "onboarding_step", step("a_step", true));
  await w.track("bob", "onboarding_step", step("b_step", false)); // last seen, open: stalled on it
  expect(await w.after(2 * DAY + HOUR, "onboarding_stalled")).toEqual(["bob"]); // stalled_after: 2d by default
  expect((await w.sql("SELECT occasion FROM rule_firings WHERE rule_id = 'onboarding_stalled'")).map((r) => r.occasion)).toEqual(["b_step"]);
});
