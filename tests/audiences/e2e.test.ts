import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../../src/cli";
import { drainQueue } from "../../src/pipeline";
import { DAY, members, serverUnderClock } from "./support";

/** Through the real parts: HTTP ingest → queue → normaliser (its after-apply hook) → audience_members. */
const CONFIG = `[[projects]]
id = "acme"
  [[projects.audiences]]
  id = "exporters"
  filter = { performed = "feature_used", where = { field = "feature", eq = "export" }, at_least = 2, within = "7d" }
  [[projects.audiences]]
  id = "big_accounts"
  filter = { all = [ { field = "traits.seatCount", gte = 10 }, { field = "email", ends_with = "@acme.io" } ] }
`;
const T = Date.parse("2026-05-04T10:00:00Z");
const site = serverUnderClock(CONFIG, T);
const { clock, post } = site;

test("the normaliser keeps membership of the users it touches up to date; recompute handles time", async () => {
  const db = site.server.ctx.database;
    await post("/api/v1/users", { external_user_id: "ann", email: "ann@acme.io", traits: { seatCount: 12 } });
  await post("/api/v1/users", { external_user_id: "bob", email: "bob@example.com", traits: { seat_count: 40 } });
  await post("/api/v1/events", { external_user_id: "ann", name: "trial_started", properties: { trialDays: 14 } });
  await post("/api/v1/events", { external_user_id: "ann", name: "feature_used", properties: { feature: "export" } });
  await post("/api/v1/events", { external_user_id: "ann", name: "feature_used", properties: { feature: "export" } });
  await post("/api/v1/events", { external_user_id: "bob", name: "feature_used", properties: { feature: "import" } });
  await drainQueue(site.server.ctx);

  expect(await members(db, "acme", "big_accounts")).toEqual(["ann"]);
  expect(await members(db, "acme", "exporters")).toEqual(["ann"]);
  expect(await members(db, "acme", "trialing")).toEqual(["ann"]);
  const entered = await db.read("SELECT entered_at FROM audience_members WHERE audience_id = 'trialing'");
  expect(Number(entered.rows[0]!.entered_at)).toBe(T);

  // Ann pays: she leaves `trialing` and enters `paying` when the normaliser applies the event.
  clock.advance(3_600_000);
  await post("/api/v1/events", { external_user_id: "ann", name: "subscription_changed", properties: { to: "pro", mrr: 4900, interval: "month" } });
  await drainQueue(site.server.ctx);
  expect(await members(db, "acme", "trialing")).toEqual([]);
  expect(await members(db, "acme", "paying")).toEqual(["ann"]);
  const trial = await db.read("SELECT entered_at, exited_at FROM audience_history WHERE audience_id = 'trialing'");
  expect(trial.rows.map((r) => [r.entered_at, r.exited_at])).toEqual([[T, T + 3_600_000]]);

  // Three weeks pass with nothing ingested: only a recompute (CLI here, the evaluator hourly) sees it.
  clock.advance(21 * DAY);
  expect(await members(db, "acme", "exporters")).toEqual(["ann"]);
  const configPath = join(site.server.dir, "vf.toml");
  writeFileSync(configPath, `[database]\nurl = "${site.server.ctx.database.url}"\n${CONFIG}`);
  const log = console.log;
  const out: string[] = [];
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  try {
    expect(await runCli(["audiences", "recompute", "--config", configPath])).toBe(0);
  } finally {
    console.log = log;
  }
  expect(out[0]).toMatch(/^acme: recomputed 9 audiences over 2 users in \d+ ms — 2 entered, 1 exited$/);
  expect(out.some((l) => /^\s+inactive_14d\s+2\s+default$/.test(l))).toBe(true);
  expect(await members(db, "acme", "exporters")).toEqual([]);
  expect(await members(db, "acme", "inactive_14d")).toEqual(["ann", "bob"]);

  out.length = 0;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  try {
    expect(await runCli(["audiences", "list", "--json", "--project", "acme", "--config", configPath])).toBe(0);
  } finally {
    console.log = log;
  }
  const listed = JSON.parse(out.join("\n"))[0];
  expect(listed.project).toBe("acme");
  expect(listed.audiences.map((a: { id: string }) => a.id)).toEqual(["signups", "trialing", "paying", "past_due", "cancelled", "churned", "inactive_14d", "exporters", "big_accounts"]);
  expect(listed.audiences.find((a: { id: string }) => a.id === "big_accounts")).toEqual({ id: "big_accounts", name: "big_accounts", default: false, size: 1 });
}, 60_000);

test("a downgrade to mrr 0 leaves `paying` (the stage stays active: docs/pipeline.md)", async () => {
  const db = site.server.ctx.database;
    await post("/api/v1/users", { external_user_id: "dan" });
  await post("/api/v1/events", { external_user_id: "dan", name: "subscription_changed", properties: { to: "pro", mrr: 4900 } });
  await drainQueue(site.server.ctx);
  expect(await members(db, "acme", "paying")).toContain("dan");
  clock.advance(60_000);
  await post("/api/v1/events", { external_user_id: "dan", name: "subscription_changed", properties: { from: "pro", to: "free", mrr: 0 } });
  await drainQueue(site.server.ctx);
  expect(await members(db, "acme", "paying")).not.toContain("dan");
});
