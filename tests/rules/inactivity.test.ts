import { expect, test } from "bun:test";
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
