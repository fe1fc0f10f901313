import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Database } from "../../src/db/client";
import { DAY, insertUser, matching, openTestDb, T0 } from "./support";

let db: { database: Database; close(): void };
const P = "acme";
const q = (raw: unknown, at = T0) => matching(db.database, P, raw, at);

beforeAll(async () => {
  db = await openTestDb();
  const d = db.database;
  await insertUser(d, P, {
    external: "ann", email: "Ann@Acme.io", name: "Ann", plan: "pro", stage: "active", interval: "month", mrr: 4900, company: "Acme", role: "admin",
    signup_date: T0 - 30 * DAY, first_seen_at: T0 - 30 * DAY, last_seen_at: T0 - 1 * DAY,
    traits: { company_size: 120, beta: true, region: "eu-west", renews_at: "2026-04-01T00:00:00Z", nested: { tier: "gold", cardType: "visa" } },
  });
  await insertUser(d, P, {
    external: "bob", email: "bob@example.com", name: "Bob", plan: "free", stage: "trialing", mrr: 0, company: "Bobco", role: "dev",
    signup_date: T0 - 3 * DAY, first_seen_at: T0 - 3 * DAY, last_seen_at: T0 - 20 * DAY,
    traits: { company_size: "big", beta: false, renews_at: T0 + 10 * DAY },
  });
  await insertUser(d, P, { external: "cat", traits: {} }); // nothing known
  await insertUser(d, "other", { external: "zed", plan: "pro", email: "zed@acme.io" }); // another project: never matches
});
afterAll(() => db.close());

describe("operators on user fields", () => {
  test("eq / neq (a missing value is not equal)", async () => {
    expect(await q({ field: "plan", eq: "pro" })).toEqual(["ann"]);
    expect(await q({ field: "plan", neq: "pro" })).toEqual(["bob", "cat"]);
    expect(await q({ field: "mrr", eq: 0 })).toEqual(["bob"]);
    expect(await q({ field: "stage", eq: "trialing" })).toEqual(["bob"]);
  });

  test("in / not_in (a missing value is not in the list)", async () => {
    expect(await q({ field: "plan", in: ["pro", "free"] })).toEqual(["ann", "bob"]);
    expect(await q({ field: "plan", not_in: ["pro"] })).toEqual(["bob", "cat"]);
    expect(await q({ field: "mrr", in: [4900, 1] })).toEqual(["ann"]);
  });

  test("contains / starts_with / ends_with: case-insensitive, wildcards are literal", async () => {
    expect(await q({ field: "email", ends_with: "@acme.io" })).toEqual(["ann"]);
    expect(await q({ field: "email", starts_with: "BOB" })).toEqual(["bob"]);
    expect(await q({ field: "company", contains: "co" })).toEqual(["bob"]);
    expect(await q({ field: "email", contains: "%" })).toEqual([]);
    expect(await q({ field: "email", contains: "_" })).toEqual([]);
  });

  test("exists", async () => {
    expect(await q({ field: "email", exists: true })).toEqual(["ann", "bob"]);
    expect(await q({ field: "email", exists: false })).toEqual(["cat"]);
    expect(await q({ field: "interval", exists: true })).toEqual(["ann"]);
  });

  test("gt / gte / lt / lte on numbers", async () => {
    expect(await q({ field: "mrr", gt: 0 })).toEqual(["ann"]);
    expect(await q({ field: "mrr", gte: 0 })).toEqual(["ann", "bob"]);
    expect(await q({ field: "mrr", lt: 4900 })).toEqual(["bob"]);
    expect(await q({ field: "mrr", lte: 4900 })).toEqual(["ann", "bob"]);
    expect(await q({ field: "mrr", gt: 0, lt: 100 })).toEqual([]);
  });

  test("before / after (absolute), older_than / newer_than (relative to now)", async () => {
    expect(await q({ field: "signup_date", before: new Date(T0 - 10 * DAY).toISOString() })).toEqual(["ann"]);
    expect(await q({ field: "signup_date", after: "2026-02-20" })).toEqual(["bob"]);
    expect(await q({ field: "last_seen_at", older_than: "14d" })).toEqual(["bob"]);
    expect(await q({ field: "last_seen_at", newer_than: "14d" })).toEqual(["ann"]);
    // The same filter later in time: ann has now been away 15 days too.
    expect(await q({ field: "last_seen_at", older_than: "14d" }, T0 + 14 * DAY)).toEqual(["ann", "bob"]);
    // Boundary: exactly 20 days ago is older than 20d, not newer.
    expect(await q({ field: "last_seen_at", older_than: "20d" })).toEqual(["bob"]);
    expect(await q({ field: "last_seen_at", newer_than: "20d" })).toEqual(["ann"]);
  });
});

describe("operators on traits (JSON)", () => {
  test("camelCase and snake_case name the same trait", async () => {
    expect(await q({ field: "traits.companySize", eq: 120 })).toEqual(["ann"]);
    expect(await q({ field: "traits.company_size", eq: 120 })).toEqual(["ann"]);
    expect(await q({ field: "traits.nested.tier", eq: "gold" })).toEqual(["ann"]);
  });

  test("nested keys are stored as sent (only top-level keys are snake_cased), so they are matched as written", async () => {
    expect(await q({ field: "traits.nested.cardType", eq: "visa" })).toEqual(["ann"]);
    expect(await q({ field: "traits.Nested.cardType", eq: "visa" })).toEqual(["ann"]); // the top-level key either way
    expect(await q({ field: "traits.nested.card_type", eq: "visa" })).toEqual([]);
  });

  test("numeric comparisons only match numbers", async () => {
    expect(await q({ field: "traits.company_size", gt: 10 })).toEqual(["ann"]);
    expect(await q({ field: "traits.company_size", lt: 1000 })).toEqual(["ann"]);
  });

  test("booleans, exists, string operators, lists", async () => {
    expect(await q({ field: "traits.beta", eq: true })).toEqual(["ann"]);
    expect(await q({ field: "traits.beta", eq: false })).toEqual(["bob"]);
    expect(await q({ field: "traits.beta", exists: true })).toEqual(["ann", "bob"]);
    expect(await q({ field: "traits.region", starts_with: "eu-" })).toEqual(["ann"]);
    expect(await q({ field: "traits.region", neq: "eu-west" })).toEqual(["bob", "cat"]);
    expect(await q({ field: "traits.company_size", in: ["big", 7] })).toEqual(["bob"]);
    expect(await q({ field: "traits.company_size", not_in: ["big"] })).toEqual(["ann", "cat"]);
  });

  test("times in traits: ISO strings or millisecond numbers", async () => {
    expect(await q({ field: "traits.renews_at", after: "2026-03-05" })).toEqual(["ann", "bob"]);
    expect(await q({ field: "traits.renews_at", before: "2026-03-20" })).toEqual(["bob"]);
    expect(await q({ field: "traits.renews_at", newer_than: "1d" })).toEqual(["ann", "bob"]);
    expect(await q({ field: "traits.renews_at", older_than: "1d" })).toEqual([]);
  });
});

describe("groups", () => {
  test("all / any / not and nesting", async () => {
    expect(await q({ all: [{ field: "plan", exists: true }, { field: "mrr", gt: 0 }] })).toEqual(["ann"]);
    expect(await q({ any: [{ field: "plan", eq: "free" }, { field: "email", exists: false }] })).toEqual(["bob", "cat"]);
    expect(await q({ not: { field: "plan", eq: "pro" } })).toEqual(["bob", "cat"]);
    // `not` is a true complement even where the field is missing (no SQL NULL leaks through).
    expect(await q({ not: { field: "traits.company_size", gt: 10 } })).toEqual(["bob", "cat"]);
    expect(await q({ not: { any: [{ field: "stage", eq: "active" }, { all: [{ field: "stage", eq: "trialing" }, { field: "mrr", eq: 0 }] }] } })).toEqual(["cat"]);
  });
});
