import { expect, test } from "bun:test";
import { parseConfigText } from "../../src/config/load";
import { ruleStillHolds } from "../../src/rules";
import { DAY, HOUR, MINUTE, signUp, startWorld } from "./support";

test("custom: event matching where, after delay, unless a follow-up came within unless_within; once per user", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "blank_project"
  kind = "custom"
  event = "project_created"
  where = { projectType = "blank", seats = { gte = 2 } }
  delay = "1d"
  unless = "project_published"
  unless_within = "1d"`);
  for (const u of ["ann", "bob", "cat", "dan"]) await signUp(w, u);
  await w.track("ann", "project_created", { projectType: "blank", seats: 3 });
  await w.track("bob", "project_created", { project_type: "blank", seats: 5 });
  await w.track("cat", "project_created", { projectType: "template", seats: 3 }); // where does not match
  await w.track("dan", "project_created", { projectType: "blank", seats: 1 }); // seats < 2
  w.clock.advance(2 * HOUR);
  await w.track("bob", "project_published");
  expect(await w.after(20 * HOUR, "blank_project")).toEqual([]);
  expect(await w.after(3 * HOUR, "blank_project")).toEqual(["ann"]);
  // repeat = once: another matching event later changes nothing.
  await w.track("ann", "project_created", { projectType: "blank", seats: 3 });
  expect(await w.after(2 * DAY, "blank_project")).toEqual([]);
});

test("custom repeat = every fires per event, at most once per cooldown", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "export_failed"
  kind = "custom"
  event = "export_failed"
  repeat = "every"
  cooldown = "7d"

  [[projects.rules]]
  id = "every_login"
  kind = "custom"
  event = "logged_in"
  repeat = "every"`);
  await signUp(w, "ann");
  await w.track("ann", "export_failed", { format: "csv" });
  await w.track("ann", "logged_in");
  expect(await w.after(HOUR, "export_failed")).toEqual(["ann"]);
  await w.track("ann", "export_failed", { format: "pdf" });
  await w.track("ann", "logged_in");
  w.clock.advance(HOUR);
  const second = await w.evaluate();
  expect(second.matches.map((m) => m.ruleId).filter((r) => r !== "welcome")).toEqual(["every_login"]); // not the failure: cooldown
  expect(await w.after(7 * DAY, "export_failed")).toEqual(["ann"]); // cooldown over: the latest failure fires
  expect(await w.after(7 * DAY, "export_failed")).toEqual([]);
  const rows = await w.sql("SELECT rule_id, occasion, event_id FROM rule_firings WHERE rule_id IN ('export_failed', 'every_login') ORDER BY id");
  expect(rows.map((r) => r.rule_id)).toEqual(["export_failed", "every_login", "every_login", "export_failed"]);
  for (const r of rows) expect(String(r.event_id)).toBe(String(r.occasion));
});

test("repeat = every: a newer event held back by the cooldown does not make the earlier firing obsolete", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "every_ping"
  kind = "custom"
  event = "report_viewed"
  repeat = "every"
  cooldown = "1d"`);
  await signUp(w, "ann");
  await w.track("ann", "report_viewed");
  expect(await w.after(HOUR, "every_ping")).toEqual(["ann"]);
  const [firing] = await w.sql("SELECT occasion FROM rule_firings WHERE rule_id = 'every_ping'");
  await w.track("ann", "report_viewed"); // the user does it again before the email went out
  w.clock.advance(HOUR);
  expect(await w.after(0, "every_ping")).toEqual([]); // cooldown
  const project = w.server.ctx.config.projects[0]!;
  expect(await ruleStillHolds(w.server.ctx.database, project, "every_ping", await w.id("ann"), String(firing!.occasion))).toBe(true);
});

test("unless: a follow-up event at the same instant as the trigger counts (second-precision clocks)", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "abandoned"
  kind = "custom"
  event = "checkout_started"
  unless = "checkout_completed"
  delay = "1h"`);
  for (const u of ["ann", "bob"]) await signUp(w, u);
  const at = w.clock.now();
  await w.track("ann", "checkout_started", {}, at);
  await w.track("ann", "checkout_completed", {}, at);
  await w.track("bob", "checkout_started", {}, at);
  expect(await w.after(2 * HOUR, "abandoned")).toEqual(["bob"]);
});

test("unless_where: only an unless event matching it blocks the firing", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "unpaid_checkout"
  kind = "custom"
  event = "checkout_started"
  delay = "1h"
  unless = "checkout_completed"
  unless_where = { status = "paid" }`);
  for (const u of ["ann", "bob"]) await signUp(w, u);
  await w.track("ann", "checkout_started");
  await w.track("bob", "checkout_started");
  w.clock.advance(10 * MINUTE);
  await w.track("ann", "checkout_completed", { status: "declined" }); // the right name, but not unless_where: no block
  await w.track("bob", "checkout_completed", { status: "paid" });
  expect(await w.after(HOUR, "unpaid_checkout")).toEqual(["ann"]);
});

test("unless_within: an unless event after the window does not block", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "unpublished"
  kind = "custom"
  event = "project_created"
  delay = "3h"
  unless = "project_published"
  unless_within = "1h"`);
  for (const u of ["ann", "bob"]) await signUp(w, u);
  await w.track("ann", "project_created");
  await w.track("bob", "project_created");
  w.clock.advance(30 * MINUTE);
  await w.track("bob", "project_published"); // inside the hour: blocks
  w.clock.advance(90 * MINUTE);
  await w.track("ann", "project_published"); // 2 h after the trigger: too late to count
  expect(await w.after(HOUR + MINUTE, "unpublished")).toEqual(["ann"]);
});

test("repeat = every: a second event in the same millisecond is its own occasion, found by the next run", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "pinged"
  kind = "custom"
  event = "ping"
  repeat = "every"`);
  await signUp(w, "ann");
  await w.track("ann", "ping");
  expect(await w.after(MINUTE, "pinged")).toEqual(["ann"]);
  // Two more, at one instant (a second-precision client, a batch): the run takes the later one.
  await w.track("ann", "ping");
  await w.track("ann", "ping");
  expect(await w.after(MINUTE, "pinged")).toEqual(["ann"]);
  const fired = await w.sql("SELECT CAST(occasion AS INTEGER) AS id FROM rule_firings WHERE rule_id = 'pinged' ORDER BY id");
  const pings = await w.sql("SELECT id FROM events WHERE name = 'ping' ORDER BY id");
  expect(fired.map((r) => Number(r.id))).toEqual([Number(pings[0]!.id), Number(pings[2]!.id)]);
});

test("where compares by JSON type: true is not 1, and 1 is not true", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "flagged"
  kind = "custom"
  event = "toggled"
  where = { flag = true }
  [[projects.rules]]
  id = "counted"
  kind = "custom"
  event = "toggled"
  where = { flag = { in = [1, "one"] } }`);
  for (const u of ["ann", "bob", "cat"]) await signUp(w, u);
  await w.track("ann", "toggled", { flag: true });
  await w.track("bob", "toggled", { flag: 1 });
  await w.track("cat", "toggled", { flag: "true" });
  expect(await w.after(MINUTE, "flagged")).toEqual(["ann"]);
  // The same run fired the other rule.
  const counted = await w.sql("SELECT u.external_user_id AS who FROM rule_firings f JOIN tracked_users u ON u.id = f.user_id WHERE f.rule_id = 'counted'");
  expect(counted.map((r) => r.who)).toEqual(["bob"]);
});

test("where reaches nested properties with a dotted key, as audience filters do", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "from_ads"
  kind = "custom"
  event = "signed_in"
  where = { "meta.source" = "ads", "meta.campaignId" = { exists = true } }`);
  for (const u of ["ann", "bob"]) await signUp(w, u);
  await w.track("ann", "signed_in", { meta: { source: "ads", campaignId: "c1" } });
  await w.track("bob", "signed_in", { meta: { source: "seo", campaignId: "c1" } });
  expect(await w.after(MINUTE, "from_ads")).toEqual(["ann"]);
});

test("unless as one table { event, where } (SPEC §7: an unless event 'with its where') works as unless + unless_where", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "unpaid_checkout"
  kind = "custom"
  event = "checkout_started"
  delay = 0
  unless = { event = "checkout_completed", where = { status = "paid" } }`);
  for (const u of ["ann", "bob"]) await signUp(w, u);
  await w.track("ann", "checkout_started");
  await w.track("bob", "checkout_started");
  await w.track("ann", "checkout_completed", { status: "declined" });
  await w.track("bob", "checkout_completed", { status: "paid" });
  expect(await w.after(MINUTE, "unpaid_checkout")).toEqual(["ann"]);
});

test("where in the audience form ({ field, <operator> }, all = [...]) means the same as the rule's own form", async () => {
  const w = await startWorld(`
  [[projects.rules]]
  id = "blank_project"
  kind = "custom"
  event = "project_created"
  where = { all = [{ field = "projectType", eq = "blank" }, { field = "seats", gte = 2 }] }

  [[projects.rules]]
  id = "any_template"
  kind = "custom"
  event = "project_created"
  where = { field = "project_type", op = "eq", value = "template" }`);
  for (const u of ["ann", "cat", "dan"]) await signUp(w, u);
  await w.track("ann", "project_created", { projectType: "blank", seats: 3 });
  await w.track("cat", "project_created", { projectType: "template", seats: 3 });
  await w.track("dan", "project_created", { projectType: "blank", seats: 1 });
  w.clock.advance(MINUTE);
  const { matches } = await w.evaluate();
  const of = async (rule: string) => Promise.all(matches.filter((m) => m.ruleId === rule).map(async (m) => (await w.sql("SELECT external_user_id AS x FROM tracked_users WHERE id = ?", [m.userId]))[0]!.x));
  expect(await of("blank_project")).toEqual(["ann"]);
  expect(await of("any_template")).toEqual(["cat"]);
});

test("rule parameters are validated at config load, with the key path", () => {
  const bad = (rule: string) => {
    try {
      parseConfigText(`[[projects]]\nid = "p"\n[[projects.rules]]\n${rule}`);
      return "";
    } catch (e) {
      return (e as Error).message;
    }
  };
  expect(bad(`id = "x"\nkind = "inactivity"\ninactive_for = "soon"`)).toContain("projects[0].rules[0].inactive_for");
  expect(bad(`id = "x"\nkind = "nope"`)).toContain("projects[0].rules[0].kind");
  // 0 days before the end would never match (the trial ends within the next 0 days: never).
  expect(bad(`id = "x"\nkind = "trial_expiring"\ndays_before = 0`)).toContain("projects[0].rules[0].days_before: expected at least 1");
  expect(bad(`id = "x"\nkind = "custom"`)).toContain("projects[0].rules[0].event");
  expect(bad(`id = "x"\nkind = "custom"\nevent = "e"\nwhere = { a = { between = 1 } }`)).toContain("projects[0].rules[0].where");
  expect(bad(`id = "x"\nkind = "custom"\nevent = "e"\nwhere = { any = [{ field = "a", eq = 1 }] }`)).toContain("any and not have no form here");
  expect(bad(`id = "x"\nkind = "custom"\nevent = "e"\nunless = { event = "f", where = { a = 1 } }\nunless_where = { b = 2 }`)).toContain(
    "projects[0].rules[0].unless_where: expected unless.where or unless_where, not both",
  );
  expect(bad(`id = "x"\nkind = "custom"\nevent = "e"\nunless = { name = "f" }`)).toContain("projects[0].rules[0].unless");
  // A duration is a string; the bare number 0 (SPEC §7's table writes delay's default so) is the one number taken.
  expect(bad(`id = "x"\nkind = "welcome"\ndelay = 0`)).toBe("");
  expect(bad(`id = "x"\nkind = "welcome"\ndelay = 600`)).toContain("projects[0].rules[0].delay: expected a duration");
  expect(bad(`id = "win_back"\nenabled = false`)).toBe(""); // a default rule's id: kind may be left out
  expect(bad(`id = "mine"\nenabled = false`)).toContain("projects[0].rules[0].kind");
});
