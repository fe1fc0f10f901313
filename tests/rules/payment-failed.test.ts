import { expect, test } from "bun:test";
import { ruleStillHolds } from "../../src/rules";
import { DAY, MINUTE, signUp, startWorld } from "./support";

test("payment_failed fires once per failure still open after the grace period", async () => {
  const w = await startWorld();
  for (const u of ["ann", "bob"]) {
    await signUp(w, u);
    await w.track(u, "subscription_changed", { to: "pro", mrr: 4900 });
  }
  await w.track("ann", "payment_failed", { reason: "card_declined" });
  await w.track("bob", "payment_failed", { reason: "card_declined" });
  w.clock.advance(10 * MINUTE);
  await w.track("bob", "subscription_changed", { to: "pro", mrr: 4900 }); // paid within the grace
  expect(await w.after(30 * MINUTE, "payment_failed")).toEqual([]);
  expect(await w.after(21 * MINUTE, "payment_failed")).toEqual(["ann"]);
  expect(await w.after(DAY, "payment_failed")).toEqual([]);

  // Recovery, then a new failure: a new occasion.
  await w.track("ann", "subscription_changed", { to: "pro", mrr: 4900 });
  expect(await w.after(DAY, "payment_failed")).toEqual([]);
  await w.track("ann", "payment_failed", { reason: "expired_card" });
  expect(await w.after(61 * MINUTE, "payment_failed")).toEqual(["ann"]);
  const firings = await w.sql("SELECT occasion, event_id FROM rule_firings WHERE rule_id = 'payment_failed' ORDER BY id");
  expect(firings).toHaveLength(2);
  expect(firings[0]!.occasion).not.toBe(firings[1]!.occasion);
  expect(String(firings[1]!.event_id)).toBe(String(firings[1]!.occasion));

  // Paying after the email was drafted: the re-check says no.
  await w.track("ann", "subscription_changed", { to: "pro", mrr: 4900 });
  await w.settle();
  const project = w.server.ctx.config.projects[0]!;
  expect(await ruleStillHolds(w.server.ctx.database, project, "payment_failed", await w.id("ann"), String(firings[1]!.occasion), w.clock.now())).toBe(false);
});

test("a new failure while the user is still past_due is a new occasion; the earlier failure's unsent email is superseded", async () => {
  const w = await startWorld();
  await signUp(w, "ann");
  await w.track("ann", "subscription_changed", { to: "pro", mrr: 4900 });
  await w.track("ann", "payment_failed", { reason: "card_declined" });
  expect(await w.after(61 * MINUTE, "payment_failed")).toEqual(["ann"]);
  expect(await w.after(DAY, "payment_failed")).toEqual([]); // once per failure
  const [first] = await w.sql("SELECT occasion FROM rule_firings WHERE rule_id = 'payment_failed'");
  // The billing provider retries, and it fails again: a second failure (SPEC §7: once per failure).
  await w.track("ann", "payment_failed", { reason: "insufficient_funds" });
  const project = w.server.ctx.config.projects[0]!;
  await w.settle();
  // The first failure's email, if still unsent, no longer goes out: only the latest failure's does.
  expect(await ruleStillHolds(w.server.ctx.database, project, "payment_failed", await w.id("ann"), String(first!.occasion), w.clock.now())).toBe(false);
  expect(await w.after(30 * MINUTE, "payment_failed")).toEqual([]); // its grace has not passed
  expect(await w.after(31 * MINUTE, "payment_failed")).toEqual(["ann"]);
  const firings = await w.sql("SELECT occasion FROM rule_firings WHERE rule_id = 'payment_failed' ORDER BY id");
  expect(firings).toHaveLength(2);
  expect(await ruleStillHolds(w.server.ctx.database, project, "payment_failed", await w.id("ann"), String(firings[1]!.occasion), w.clock.now())).toBe(true);
});

test("a recovery and a new failure dated before the first email are still a new occasion (late or backdated events)", async () => {
  const w = await startWorld();
  await signUp(w, "ann");
  const t0 = w.clock.now();
  await w.track("ann", "subscription_changed", { to: "pro", mrr: 4900 }, t0 - 10 * DAY);
  await w.track("ann", "payment_failed", { reason: "card_declined" }, t0 - 5 * 60 * MINUTE);
  expect(await w.after(MINUTE, "payment_failed")).toEqual(["ann"]);
  // Both sent now, both dated before that email: the user recovered, then failed again.
  await w.track("ann", "subscription_changed", { to: "pro", mrr: 4900 }, t0 - 4 * 60 * MINUTE);
  await w.track("ann", "payment_failed", { reason: "expired_card" }, t0 - 3 * 60 * MINUTE);
  expect(await w.after(MINUTE, "payment_failed")).toEqual(["ann"]);
  const firings = await w.sql("SELECT occasion FROM rule_firings WHERE rule_id = 'payment_failed' ORDER BY id");
  expect(firings).toHaveLength(2);
  // …and a later failure is another occasion again; one dated before the latest is superseded, never mailed.
  await w.track("ann", "payment_failed", { reason: "expired_card" }, t0 - 4 * 60 * MINUTE + 1);
  expect(await w.after(DAY, "payment_failed")).toEqual([]);
  await w.track("ann", "payment_failed", { reason: "expired_card" }, t0 - 2 * 60 * MINUTE);
  expect(await w.after(DAY, "payment_failed")).toEqual(["ann"]);
});

test("the same failure delivered again (a repeated billing webhook, the same time) is no new occasion, and does not cancel its email", async () => {
  const w = await startWorld();
  await signUp(w, "ann");
  await w.track("ann", "subscription_changed", { to: "pro", mrr: 4900 });
  const t = w.clock.now();
  await w.track("ann", "payment_failed", { reason: "card_declined" }, t);
  expect(await w.after(61 * MINUTE, "payment_failed")).toEqual(["ann"]);
  const [firing] = await w.sql("SELECT occasion FROM rule_firings WHERE rule_id = 'payment_failed'");
  await w.track("ann", "payment_failed", { reason: "card_declined" }, t);
  expect(await w.after(MINUTE, "payment_failed")).toEqual([]);
  expect(await w.after(2 * DAY, "payment_failed")).toEqual([]);
  await w.settle();
  const project = w.server.ctx.config.projects[0]!;
  expect(await ruleStillHolds(w.server.ctx.database, project, "payment_failed", await w.id("ann"), String(firing!.occasion), w.clock.now())).toBe(true);
});
