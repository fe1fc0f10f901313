import { expect, test } from "bun:test";
import { drainQueue } from "../../src/pipeline";
import { members, serverUnderClock } from "./support";

/**
 * Audience filters in the shorthand a custom rule's `where` takes (docs/audiences.md): `{ plan = "pro" }`, a list as
 * `in`, a table of operators, several keys meaning all of them, `where = { feature = "export" }`, and
 * `{ field, op, value }` — through the real parts: TOML config → HTTP ingest → normaliser → audience_members.
 */
const CONFIG = `[[projects]]
id = "acme"
  [[projects.audiences]]
  id = "pro"
  filter = { plan = "pro" }
  [[projects.audiences]]
  id = "paid_plans"
  filter = { plan = ["pro", "team"], mrr = { gt = 0 } }
  [[projects.audiences]]
  id = "big_trials"
  filter = { all = [{ "traits.teamSize" = { gte = 5 } }, { stage = "trialing" }] }
  [[projects.audiences]]
  id = "exporters"
  filter = { performed = "feature_used", where = { feature = "export" }, at_least = 2 }
  [[projects.audiences]]
  id = "pro_long_form"
  filter = { field = "plan", op = "eq", value = "pro" }
`;
const site = serverUnderClock(CONFIG, Date.parse("2026-06-10T12:00:00Z"));

test("shorthand filters match exactly the users their long forms would", async () => {
  const { post } = site;
  await post("/api/v1/users", { external_user_id: "ann", traits: { plan: "pro", teamSize: 8 } });
  await post("/api/v1/users", { external_user_id: "bob", traits: { plan: "team", team_size: 3 } });
  await post("/api/v1/users", { external_user_id: "cat", traits: { plan: "free", teamSize: 12 } });
  await post("/api/v1/events", { external_user_id: "bob", name: "subscription_changed", properties: { to: "team", mrr: 4900 } });
  for (const user of ["cat", "bob"]) await post("/api/v1/events", { external_user_id: user, name: "trial_started", properties: { trialDays: 14 } });
  for (const feature of ["export", "export", "import"]) await post("/api/v1/events", { external_user_id: "ann", name: "feature_used", properties: { feature } });
  await post("/api/v1/events", { external_user_id: "cat", name: "feature_used", properties: { feature: "export" } });
  await drainQueue(site.server.ctx);
  const db = site.server.ctx.database;
  const of = async (id: string) => members(db, "acme", id);
  expect(await of("pro")).toEqual(["ann"]);
  expect(await of("pro_long_form")).toEqual(["ann"]);
  expect(await of("paid_plans")).toEqual(["bob"]); // ann's plan is pro but she pays nothing
  expect(await of("big_trials")).toEqual(["cat"]); // bob is active (paid), and his team is 3
  expect(await of("exporters")).toEqual(["ann"]);
});
