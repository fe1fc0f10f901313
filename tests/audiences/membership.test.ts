import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { applyMembership, audienceMembers, audienceSizes, recomputeAudiences, refreshMembership, resolveAudiences, userAudiences } from "../../src/audiences";
import { dropEventCounts, prepareEventCounts } from "../../src/audiences/event-counts";
import type { Database } from "../../src/db/client";
import { manualClock, now, setClock, systemClock } from "../../src/lib/clock";
import { DAY, insertEvent, insertUser, members, openTestDb, projectFrom, T0, updateUser } from "./support";

const projectNamed = (id: string) => projectFrom(`[[projects]]
id = "${id}"
  [[projects.audiences]]
  id = "power_users"
  filter = { performed = "feature_used", at_least = 3, within = "7d" }
  [[projects.audiences]]
  id = "pros"
  name = "Pro plan"
  filter = { field = "plan", eq = "pro" }
`);

let db: { database: Database; close(): void };
const history = async (userId: number) =>
  (
    await db.database.read({
      sql: "SELECT audience_id, entered_at, exited_at FROM audience_history WHERE user_id = ? ORDER BY entered_at, audience_id",
      args: [userId],
    })
  ).rows.map((r) => [r.audience_id, r.entered_at, r.exited_at]);

beforeAll(async () => {
  db = await openTestDb();
});
afterAll(() => db.close());
afterEach(() => setClock(systemClock));

describe("materialised membership", () => {
  test("refresh records entries and exits with their times, for the touched users only", async () => {
    const clock = manualClock(T0);
    setClock(clock);
    const d = db.database;
    const project = projectNamed("p1");
    const ann = await insertUser(d, "p1", { external: "ann", plan: "pro", stage: "trialing", last_seen_at: T0 });
    const bob = await insertUser(d, "p1", { external: "bob", plan: "pro" });
    await d.write((tx) => refreshMembership(tx, project, [ann], now()));
    expect(await members(d, "p1", "pros")).toEqual(["ann"]); // bob was not touched
    expect(await members(d, "p1", "trialing")).toEqual(["ann"]);
    expect(await members(d, "p1", "signups")).toEqual(["ann"]);
    expect(await history(ann)).toEqual([
      ["pros", T0, null],
      ["signups", T0, null],
      ["trialing", T0, null],
    ]);

    // An hour later ann converts and downgrades; a refresh moves her between audiences.
    clock.advance(3_600_000);
    await updateUser(d, ann, { stage: "active", plan: "free", mrr: 900 });
    const change = await d.write((tx) => refreshMembership(tx, project, [ann, ann], now()));
    expect(change).toEqual({ entered: 1, exited: 2 });
    expect(await history(ann)).toEqual([
      ["pros", T0, T0 + 3_600_000],
      ["signups", T0, null],
      ["trialing", T0, T0 + 3_600_000],
      ["paying", T0 + 3_600_000, null],
    ]);
    // A refresh with nothing new changes nothing.
    expect(await d.write((tx) => refreshMembership(tx, project, [ann], now()))).toEqual({ entered: 0, exited: 0 });
    expect((await userAudiences(d, "p1", ann)).map((a) => a.audienceId)).toEqual(["paying", "signups"]);
    await recomputeAudiences(d, project, now());
    expect(await members(d, "p1", "pros")).toEqual(["bob"]);
  });

  test("time-based conditions change only with a recompute, as time passes on the injectable clock", async () => {
    const clock = manualClock(T0);
    setClock(clock);
    const d = db.database;
    const project = projectNamed("p2");
    const cid = await insertUser(d, "p2", { external: "cid", last_seen_at: T0 - DAY });
    for (let i = 0; i < 3; i++) await insertEvent(d, "p2", cid, "feature_used", T0 - i * 1000, { feature: "x" });
    await d.write((tx) => refreshMembership(tx, project, [cid], now()));
    expect(await members(d, "p2", "power_users")).toEqual(["cid"]);
    expect(await members(d, "p2", "inactive_14d")).toEqual([]);

    clock.advance(14 * DAY);
    // Nothing touched cid: still a power user until the evaluator recomputes.
    expect(await members(d, "p2", "power_users")).toEqual(["cid"]);
    const result = await recomputeAudiences(d, project, now());
    expect(result).toMatchObject({ entered: 1, exited: 1, audiences: 9, users: 1 });
    expect(await members(d, "p2", "power_users")).toEqual([]);
    expect(await members(d, "p2", "inactive_14d")).toEqual(["cid"]);
    expect(await history(cid)).toContainEqual(["power_users", T0, T0 + 14 * DAY]);
    expect(await history(cid)).toContainEqual(["inactive_14d", T0 + 14 * DAY, null]);

    // A new burst of activity: the normaliser's refresh brings cid back at once.
    clock.advance(DAY);
    await updateUser(d, cid, { last_seen_at: now() });
    for (let i = 0; i < 3; i++) await insertEvent(d, "p2", cid, "feature_used", now(), { feature: "x" });
    await d.write((tx) => refreshMembership(tx, project, [cid], now()));
    expect(await members(d, "p2", "power_users")).toEqual(["cid"]);
    expect(await members(d, "p2", "inactive_14d")).toEqual([]);
    const rows = await history(cid);
    expect(rows.filter((r) => r[0] === "power_users")).toEqual([
      ["power_users", T0, T0 + 14 * DAY],
      ["power_users", T0 + 15 * DAY, null],
    ]);
  });

  test("an audience removed from the config is emptied by the next refresh or recompute, its history closed", async () => {
    const d = db.database;
    const fewer = projectFrom(`[[projects]]\nid = "p2"\n`);
    const openRows = async () =>
      Number((await d.read("SELECT count(*) AS n FROM audience_history WHERE project_id = 'p2' AND audience_id = 'power_users' AND exited_at IS NULL")).rows[0]!.n);
    const cid = Number((await d.read("SELECT id FROM tracked_users WHERE external_user_id = 'cid'")).rows[0]!.id);
    expect(await members(d, "p2", "power_users")).toEqual(["cid"]);
    // The normaliser touches cid under the new config: the refresh exits the removed audience.
    expect(await d.write((tx) => refreshMembership(tx, fewer, [cid], T0 + 16 * DAY))).toEqual({ entered: 0, exited: 1 });
    expect(await members(d, "p2", "power_users")).toEqual([]);
    expect(await openRows()).toBe(0);
    // Back under the old config (a recompute fills it), then removed again: the recompute empties it.
    await recomputeAudiences(d, projectNamed("p2"), T0 + 16 * DAY);
    expect(await members(d, "p2", "power_users")).toEqual(["cid"]);
    const result = await recomputeAudiences(d, fewer, T0 + 16 * DAY);
    expect(result).toMatchObject({ entered: 0, exited: 1 });
    expect(await members(d, "p2", "power_users")).toEqual([]);
    expect(await openRows()).toBe(0);
  });

  test("chunked recompute (many transactions) gives the same membership as one pass; projects stay apart", async () => {
    const d = db.database;
    const project = projectNamed("p4");
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) {
      ids.push(await insertUser(d, "p4", { external: `u${String(i).padStart(2, "0")}`, plan: i % 3 === 0 ? "pro" : "free", stage: i % 2 ? "active" : "trialing" }));
      await insertUser(d, "other", { external: `o${i}`, plan: "pro" });
    }
    const small = await recomputeAudiences(d, project, T0 + 16 * DAY, { chunkSize: 7 });
    expect(small.transactions).toBeGreaterThan(5);
    const snapshot = await d.read("SELECT project_id, audience_id, user_id FROM audience_members ORDER BY 1, 2, 3");
    const whole = await recomputeAudiences(d, project, T0 + 16 * DAY, { chunkSize: 1_000_000 });
    expect(whole).toMatchObject({ entered: 0, exited: 0, transactions: 1 });
    expect((await d.read("SELECT project_id, audience_id, user_id FROM audience_members ORDER BY 1, 2, 3")).rows).toEqual(snapshot.rows);
    expect(snapshot.rows.filter((r) => r.project_id === "other")).toEqual([]);
    expect((await members(d, "p4", "pros")).length).toBe(14);
  });

  test("dashboard reads: sizes and a page of members", async () => {
    const d = db.database;
    const sizes = await audienceSizes(d, "p4");
    expect(sizes).toContainEqual({ audienceId: "pros", size: 14 });
    expect(sizes).toContainEqual({ audienceId: "trialing", size: 20 });
    const page = await audienceMembers(d, "p4", "pros", { limit: 5, offset: 10 });
    expect(page.total).toBe(14);
    expect(page.members).toHaveLength(4);
    const all = await audienceMembers(d, "p4", "pros", { limit: 100 });
    expect(all.members.map((m) => m.externalUserId).sort()).toEqual(await members(d, "p4", "pros"));
    expect(all.members[0]).toMatchObject({ externalUserId: expect.any(String), stage: expect.any(String), enteredAt: T0 + 16 * DAY });
    expect(await audienceSizes(d, "nobody")).toEqual([]);
  });

  test("recompute counts `where` events in one pass; events arriving mid-recompute are not missed", async () => {
    const d = db.database;
    const project = projectFrom(`[[projects]]
id = "p6"
  [[projects.audiences]]
  id = "exporters"
  filter = { performed = "feature_used", where = { field = "feature", eq = "export" }, at_least = 2 }
  [[projects.audiences]]
  id = "rare_exporters"
  filter = { performed = "feature_used", where = { field = "feature", eq = "export" }, at_least = 0, at_most = 1 }
`);
    const audiences = resolveAudiences(project);
    const eve = await insertUser(d, "p6", { external: "eve" });
    const fay = await insertUser(d, "p6", { external: "fay" });
    await insertEvent(d, "p6", eve, "feature_used", T0 - DAY, { feature: "export" });
    await insertEvent(d, "p6", eve, "feature_used", T0 - DAY, { feature: "export" });
    await insertEvent(d, "p6", fay, "feature_used", T0 - DAY, { feature: "export" });
    const counts = await prepareEventCounts(d, "p6", audiences, T0);
    expect(counts?.tableNames).toHaveLength(1); // the same condition twice: one count table
    // fay's second export arrives after the counts were taken, before her slice is applied.
    await insertEvent(d, "p6", fay, "feature_used", T0, { feature: "export" });
    await d.write((tx) => applyMembership(tx, "p6", audiences, { kind: "range", from: 0, to: Number.MAX_SAFE_INTEGER }, T0, { counts }));
    await dropEventCounts(d, counts);
    expect(await members(d, "p6", "exporters")).toEqual(["eve", "fay"]);
    expect(await members(d, "p6", "rare_exporters")).toEqual([]);
    // The touched-user refresh (correlated) agrees.
    expect(await d.write((tx) => refreshMembership(tx, project, [eve, fay], T0))).toEqual({ entered: 0, exited: 0 });
  });
});
