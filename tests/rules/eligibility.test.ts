import { expect, test } from "bun:test";
import { HOUR, MINUTE, signUp, startWorld } from "./support";

test("suppressed, unsubscribed, paused and email-less users never qualify", async () => {
  const w = await startWorld();
  for (const u of ["ann", "sup", "unsub", "paused"]) await signUp(w, u);
  await signUp(w, "nomail", null);
  await w.settle();
  const db = w.server.ctx.database;
  await db.execute("UPDATE tracked_users SET suppressed = 1, suppressed_reason = 'bounce' WHERE external_user_id = 'sup'");
  await db.execute("UPDATE tracked_users SET paused = 1 WHERE external_user_id = 'paused'");
  await db.execute({ sql: "INSERT INTO suppressions (project_id, email, reason, created_at) VALUES ('acme', 'unsub@example.com', 'unsubscribe', ?)", args: [w.clock.now()] });
  expect(await w.after(MINUTE, "welcome")).toEqual(["ann"]);
  // Lifting the pause lets the user qualify on the next run: nothing was recorded for them meanwhile.
  await db.execute("UPDATE tracked_users SET paused = 0 WHERE external_user_id = 'paused'");
  expect(await w.after(HOUR, "welcome")).toEqual(["paused"]);
});

test("an address on the suppression list is suppressed in any letter case", async () => {
  const w = await startWorld();
  await signUp(w, "ann");
  await signUp(w, "shout", "Ada.Lovelace@Example.COM");
  await w.settle();
  // The list holds addresses lowercased, as unsubscribe and bounce handling write them.
  await w.server.ctx.database.execute({ sql: "INSERT INTO suppressions (project_id, email, reason, created_at) VALUES ('acme', 'ada.lovelace@example.com', 'unsubscribe', ?)", args: [w.clock.now()] });
  expect(await w.after(MINUTE, "welcome")).toEqual(["ann"]);
});

test("a rule with `audience` only considers its members", async () => {
  const w = await startWorld(`
  [[projects.audiences]]
  id = "pro_plan"
  filter = { field = "plan", eq = "pro" }

  [[projects.rules]]
  id = "welcome"
  audience = "pro_plan"`);
  await signUp(w, "ann");
  await w.identify("bob", { traits: { plan: "pro" } });
  await w.track("bob", "user_signed_up", { plan: "pro", source: "ads" });
  expect(await w.after(MINUTE, "welcome")).toEqual(["bob"]);
  // ann joins the audience later: she qualifies from then on.
  await w.track("ann", "subscription_changed", { to: "pro", mrr: 4900 });
  expect(await w.after(MINUTE, "welcome")).toEqual(["ann"]);
});
