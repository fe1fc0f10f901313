import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Database } from "../../src/db/client";
import { insertEvent, insertUser, matching, openTestDb, T0 } from "./support";

/** docs/audiences.md: JSON values compare by their JSON type. SQLite reads JSON true/false as 1/0, so a
 * boolean must not equal a number (nor pass a numeric comparison). */
let db: { database: Database; close(): void };
const P = "acme";
const q = (raw: unknown) => matching(db.database, P, raw, T0);

beforeAll(async () => {
  db = await openTestDb();
  const d = db.database;
  const users: [string, unknown][] = [["yes", true], ["one", 1], ["text", "true"], ["no", false], ["zero", 0]];
  for (const [external, flag] of users) {
    const id = await insertUser(d, P, { external, traits: { flag } });
    await insertEvent(d, P, id, "toggled", T0 - 1000, { flag });
  }
  await insertUser(d, P, { external: "none", traits: {} });
  // Time traits, in another project: exactly 20 days before now as an ISO string and as epoch ms, and a numeric
  // string that is no date at all.
  const at = T0 - 20 * 86_400_000;
  await insertUser(d, "times", { external: "iso", traits: { when: new Date(at).toISOString() } });
  await insertUser(d, "times", { external: "ms", traits: { when: at } });
  await insertUser(d, "times", { external: "digits", traits: { when: "10" } });
});
afterAll(() => db.close());

test("traits: true is not 1, false is not 0, and neither is a number to gt/lt", async () => {
  expect(await q({ field: "traits.flag", eq: true })).toEqual(["yes"]);
  expect(await q({ field: "traits.flag", eq: 1 })).toEqual(["one"]);
  expect(await q({ field: "traits.flag", eq: false })).toEqual(["no"]);
  expect(await q({ field: "traits.flag", eq: 0 })).toEqual(["zero"]);
  expect(await q({ field: "traits.flag", eq: "true" })).toEqual(["text"]);
  expect(await q({ field: "traits.flag", neq: true })).toEqual(["no", "none", "one", "text", "zero"]);
  expect(await q({ field: "traits.flag", in: [true, 0] })).toEqual(["yes", "zero"]);
  expect(await q({ field: "traits.flag", not_in: [true, 1] })).toEqual(["no", "none", "text", "zero"]);
  expect(await q({ field: "traits.flag", gt: 0 })).toEqual(["one"]);
  expect(await q({ field: "traits.flag", lte: 0 })).toEqual(["zero"]);
});

test("event properties in `where` alike", async () => {
  expect(await q({ performed: "toggled", where: { field: "flag", eq: true } })).toEqual(["yes"]);
  expect(await q({ performed: "toggled", where: { field: "flag", eq: 1 } })).toEqual(["one"]);
  expect(await q({ performed: "toggled", where: { field: "flag", gte: 1 } })).toEqual(["one"]);
});

test("time traits: an ISO string sits on the same side of a boundary as its epoch ms; a numeric string is no date", async () => {
  const t = (raw: unknown) => matching(db.database, "times", raw, T0);
  expect(await t({ field: "traits.when", older_than: "20d" })).toEqual(["iso", "ms"]);
  expect(await t({ field: "traits.when", newer_than: "20d" })).toEqual([]);
  expect(await t({ field: "traits.when", before: "2026-01-01" })).toEqual([]);
  expect(await t({ field: "traits.when", after: "2000-01-01" })).toEqual(["iso", "ms"]);
});
