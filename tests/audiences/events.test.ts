import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Database } from "../../src/db/client";
import { DAY, insertEvent, insertUser, matching, openTestDb, T0 } from "./support";

let db: { database: Database; close(): void };
const P = "acme";
const q = (raw: unknown, at = T0) => matching(db.database, P, raw, at);

beforeAll(async () => {
  db = await openTestDb();
  const d = db.database;
  const ann = await insertUser(d, P, { external: "ann" });
  const bob = await insertUser(d, P, { external: "bob" });
  await insertUser(d, P, { external: "cat" });
  // ann: 12 uses of "export" in the last week, 3 of "import" a month ago.
  for (let i = 0; i < 12; i++) await insertEvent(d, P, ann, "feature_used", T0 - (i % 6) * DAY - 1000, { feature: "export", count: 1 });
  for (let i = 0; i < 3; i++) await insertEvent(d, P, ann, "feature_used", T0 - 30 * DAY - i, { feature: "import" });
  await insertEvent(d, P, ann, "onboarding_step", T0 - 2 * DAY, { step: "invite", completed: true });
  // bob: 2 exports 10 days ago, one custom event with a camelCase-sent (stored snake_case) property.
  await insertEvent(d, P, bob, "feature_used", T0 - 10 * DAY, { feature: "export" });
  await insertEvent(d, P, bob, "feature_used", T0 - 10 * DAY + 1, { feature: "export" });
  await insertEvent(d, P, bob, "report_shared", T0 - 1 * DAY, { workspace_id: "w1", recipients: 4 });
  await insertEvent(d, P, bob, "onboarding_step", T0 - 2 * DAY, { step: "invite", completed: false });
});
afterAll(() => db.close());

describe("performed / not_performed", () => {
  test("performed at all, custom event names", async () => {
    expect(await q({ performed: "feature_used" })).toEqual(["ann", "bob"]);
    expect(await q({ performed: "report_shared" })).toEqual(["bob"]);
    expect(await q({ performed: "never_happens" })).toEqual([]);
    expect(await q({ not_performed: "feature_used" })).toEqual(["cat"]);
  });

  test("counts: at_least, at_most, both", async () => {
    expect(await q({ performed: "feature_used", at_least: 15 })).toEqual(["ann"]);
    expect(await q({ performed: "feature_used", at_least: 16 })).toEqual([]);
    expect(await q({ performed: "feature_used", at_most: 2 })).toEqual(["bob"]);
    expect(await q({ performed: "feature_used", at_least: 2, at_most: 15 })).toEqual(["ann", "bob"]);
    // at_least = 0 with at_most: "at most N times", never included.
    expect(await q({ performed: "feature_used", at_least: 0, at_most: 2 })).toEqual(["bob", "cat"]);
    // at_most = 0 alone: never performed (an implied at_least of 1 would match no one).
    expect(await q({ performed: "report_shared", at_most: 0 })).toEqual(["ann", "cat"]);
    expect(await q({ performed: "report_shared", at_most: 0, within: "12h" })).toEqual(["ann", "bob", "cat"]);
  });

  test("windows: within counts only recent events, relative to now", async () => {
    expect(await q({ performed: "feature_used", at_least: 10, within: "7d" })).toEqual(["ann"]);
    expect(await q({ performed: "feature_used", within: "7d" })).toEqual(["ann"]);
    expect(await q({ performed: "feature_used", within: "11d" })).toEqual(["ann", "bob"]);
    expect(await q({ not_performed: "feature_used", within: "7d" })).toEqual(["bob", "cat"]);
    // Three weeks later nobody has used a feature within the last 7 days.
    expect(await q({ performed: "feature_used", within: "7d" }, T0 + 21 * DAY)).toEqual([]);
  });

  test("where: property conditions on snake_case properties, camelCase accepted", async () => {
    expect(await q({ performed: "feature_used", where: { field: "feature", eq: "import" } })).toEqual(["ann"]);
    expect(await q({ performed: "feature_used", where: { field: "feature", eq: "export" }, at_least: 12 })).toEqual(["ann"]);
    expect(await q({ performed: "feature_used", where: { field: "feature", eq: "import" }, within: "7d" })).toEqual([]);
    expect(await q({ performed: "report_shared", where: [{ field: "workspaceId", eq: "w1" }, { field: "recipients", gte: 4 }] })).toEqual(["bob"]);
    expect(await q({ performed: "report_shared", where: [{ field: "workspaceId", eq: "w1" }, { field: "recipients", gt: 4 }] })).toEqual([]);
    expect(await q({ performed: "onboarding_step", where: { all: [{ field: "step", eq: "invite" }, { field: "completed", eq: true }] } })).toEqual(["ann"]);
    expect(await q({ not_performed: "onboarding_step", where: { field: "completed", eq: true } })).toEqual(["bob", "cat"]);
    expect(await q({ performed: "feature_used", where: { not: { field: "feature", in: ["export"] } } })).toEqual(["ann"]);
    expect(await q({ performed: "feature_used", where: { field: "feature", exists: false } })).toEqual([]);
  });

  test("event conditions combine with user conditions in groups", async () => {
    expect(await q({ any: [{ performed: "report_shared" }, { performed: "feature_used", at_least: 15 }] })).toEqual(["ann", "bob"]);
    expect(await q({ all: [{ performed: "feature_used" }, { not_performed: "report_shared" }] })).toEqual(["ann"]);
    expect(await q({ not: { not_performed: "feature_used" } })).toEqual(["ann", "bob"]);
  });
});

describe("shorthand conditions (the custom rule's `where` form): the same members as the long form", () => {
  test("where = { feature = \"export\" }, lists as `in`, operator tables, several keys as all", async () => {
    expect(await q({ performed: "feature_used", where: { feature: "export" }, at_least: 10 })).toEqual(await q({ performed: "feature_used", where: { field: "feature", eq: "export" }, at_least: 10 }));
    expect(await q({ performed: "feature_used", where: { feature: "export" }, at_least: 10 })).toEqual(["ann"]);
    expect(await q({ performed: "feature_used", where: { feature: ["import", "nope"] } })).toEqual(["ann"]);
    expect(await q({ performed: "report_shared", where: { workspaceId: "w1", recipients: { gte: 4 } } })).toEqual(["bob"]);
    expect(await q({ performed: "report_shared", where: { workspaceId: "w1", recipients: { gte: 5 } } })).toEqual([]);
  });
});
