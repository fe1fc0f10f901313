import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { compileWhere, whereSchema } from "../../src/rules/where";

const rows = [
  { id: 1, p: { plan: "pro", seats: 3, source: "google_ads", trial: true } },
  { id: 2, p: { plan: "free", seats: 1, source: "seo" } },
  { id: 3, p: { plan: "team", seats: 12, source: "ads_50%_off", trial: false } },
];

function match(where: Record<string, unknown>): number[] {
  const db = new Database(":memory:");
  db.run("CREATE TABLE e (id INTEGER PRIMARY KEY, properties TEXT)");
  for (const r of rows) db.run("INSERT INTO e VALUES (?, ?)", [r.id, JSON.stringify(r.p)]);
  const f = compileWhere("e.properties", whereSchema.parse(where));
  return (db.query(`SELECT id FROM e WHERE ${f.sql} ORDER BY id`).all(...(f.args as any[])) as { id: number }[]).map((r) => r.id);
}

test("where operators compile to the expected SQL conditions", () => {
  expect(match({})).toEqual([1, 2, 3]);
  expect(match({ plan: "pro" })).toEqual([1]);
  expect(match({ plan: { neq: "pro" } })).toEqual([2, 3]);
  expect(match({ plan: { in: ["pro", "team"] } })).toEqual([1, 3]);
  expect(match({ plan: { not_in: ["pro"] } })).toEqual([2, 3]);
  expect(match({ source: { contains: "ads" } })).toEqual([1, 3]);
  expect(match({ source: { contains: "50%" } })).toEqual([3]); // % is literal, not a wildcard
  expect(match({ source: { starts_with: "google" } })).toEqual([1]);
  expect(match({ source: { ends_with: "seo" } })).toEqual([2]);
  expect(match({ trial: { exists: true } })).toEqual([1, 3]);
  expect(match({ trial: { exists: false } })).toEqual([2]);
  expect(match({ trial: true })).toEqual([1]);
  expect(match({ seats: { gt: 1, lte: 12 } })).toEqual([1, 3]);
  expect(match({ seats: { gte: 3, lt: 12 } })).toEqual([1]);
  expect(match({ Seats: { gte: 3 }, planName: { exists: false } })).toEqual([1, 3]); // keys are snake_cased
});

test("number comparisons match JSON numbers only: never text (SQLite orders all text after all numbers), never true", () => {
  const db = new Database(":memory:");
  db.run("CREATE TABLE e (id INTEGER PRIMARY KEY, properties TEXT)");
  const values = [99, 100, 150.5, "50", "abc", "200", null, true];
  values.forEach((amount, i) => db.run("INSERT INTO e VALUES (?, ?)", [i, JSON.stringify({ amount })]));
  const ids = (where: Record<string, unknown>) => {
    const f = compileWhere("e.properties", whereSchema.parse(where));
    return (db.query(`SELECT id FROM e WHERE ${f.sql} ORDER BY id`).all(...(f.args as any[])) as { id: number }[]).map((r) => values[r.id]);
  };
  expect(ids({ amount: { gte: 100 } })).toEqual([100, 150.5]);
  expect(ids({ amount: { gt: 0, lt: 100 } })).toEqual([99]); // not true (1), not "50"
  expect(ids({ amount: { lte: 1000 } })).toEqual([99, 100, 150.5]);
});

test("where rejects unknown operators and empty conditions", () => {
  expect(whereSchema.safeParse({ a: { between: 1 } }).success).toBe(false);
  expect(whereSchema.safeParse({ a: {} }).success).toBe(false);
  expect(whereSchema.safeParse({ a: { in: [] } }).success).toBe(false);
  // The audience filter's form is read as the same condition; its any/not groups have no form here: refused.
  expect(whereSchema.parse({ field: "plan", eq: "pro" })).toEqual({ plan: { eq: "pro" } });
  expect(whereSchema.parse({ all: [{ field: "plan", eq: "pro" }, { seats: 2 }, { field: "seats", op: "lt", value: 9 }] })).toEqual({ plan: { eq: "pro" }, seats: { eq: 2, lt: 9 } });
  expect(whereSchema.safeParse({ any: [{ field: "plan", eq: "pro" }] }).success).toBe(false);
  expect(whereSchema.safeParse({ not: { field: "plan", eq: "pro" } }).success).toBe(false);
  expect(whereSchema.safeParse({ field: "plan", op: "eq" }).success).toBe(false); // no value: not a condition
  expect(whereSchema.safeParse({ field: "plan", ne: "free" }).success).toBe(false); // a mistyped operator, not a property "ne"
  expect(whereSchema.safeParse({ field: "signup", older_than: "3d" }).success).toBe(false); // an audience-only operator
  expect(whereSchema.safeParse({ all: [{ field: "plan", op: "eq" }, { seats: 2 }] }).success).toBe(false);
  expect(whereSchema.safeParse({ all: [{ plan: "a" }, { plan: "b" }] }).success).toBe(false); // eq twice: no single condition says that
  expect(whereSchema.safeParse({ field: "plan" }).success).toBe(true); // a property that happens to be named "field"
});
