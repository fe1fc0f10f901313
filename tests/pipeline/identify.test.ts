import { afterAll, beforeAll, expect, test } from "bun:test";
import type { TestServer } from "../support/harness";
import { count, drain, enqueue, identify, rows, startPipelineServer, userRow } from "./support";

let server: TestServer;
beforeAll(async () => {
  server = await startPipelineServer();
});
afterAll(() => server.close());

test("identify through the API creates the user, known traits in columns, the rest in traits", async () => {
  const res = await server.api("/api/v1/users", {
    body: {
      external_user_id: "u-api-1",
      email: "ann@example.com",
      traits: { name: "Ann", plan: "pro", signupDate: "2026-03-01T10:00:00Z", company: "Acme", role: "cto", favouriteColor: "teal", seats: 4 },
    },
  });
  expect(res.status).toBe(202);
  await drain(server);
  const u = (await userRow(server.ctx.database, "u-api-1"))!;
  expect(u).toMatchObject({ email: "ann@example.com", name: "Ann", plan: "pro", company: "Acme", role: "cto", signup_date: Date.parse("2026-03-01T10:00:00Z") });
  expect(JSON.parse(u.traits)).toEqual({ favourite_color: "teal", seats: 4 });
  expect(u.first_seen_at).toBeGreaterThan(0);
  expect(u.last_seen_at).toBeNull(); // last_seen_at comes from events only
});

test("re-identify updates in place: traits merge key by key, null removes, nothing duplicated", async () => {
  const db = server.ctx.database;
  await enqueue(db, [
    identify("u-merge", { traits: { a: 1, b: 2, name: "Bob", signup_date: 1_700_000_000_000 } }),
    identify("u-merge", { traits: { b: null, c: { nested: true }, name: null, role: "dev" } }),
    identify("u-merge", { email: "bob@example.com", traits: { email: "ignored@example.com", a: 10 } }),
  ]);
  await drain(server);
  expect(await count(db, "SELECT count(*) AS n FROM tracked_users WHERE external_user_id = 'u-merge'")).toBe(1);
  const u = (await userRow(db, "u-merge"))!;
  expect(JSON.parse(u.traits)).toEqual({ a: 10, c: { nested: true } });
  expect(u.name).toBeNull();
  expect(u.role).toBe("dev");
  expect(u.email).toBe("bob@example.com"); // the top-level email wins over traits.email
  expect(u.signup_date).toBe(1_700_000_000_000);
});

test("email from traits.email; traits.email = null clears it; signup_date in seconds becomes ms", async () => {
  const db = server.ctx.database;
  await enqueue(db, [identify("u-mail", { traits: { email: "cy@example.com", signupDate: 1_700_000_000 } })]);
  await drain(server);
  expect(await userRow(db, "u-mail")).toMatchObject({ email: "cy@example.com", signup_date: 1_700_000_000_000 });
  await enqueue(db, [identify("u-mail", { traits: { email: null } })]);
  await drain(server);
  expect((await userRow(db, "u-mail"))!.email).toBeNull();
});

test("a top-level email wins even over a traits.email that is not an address (Segment, replays): no quarantine", async () => {
  const db = server.ctx.database;
  await enqueue(db, [identify("u-wins", { email: "dee@example.com", traits: { email: "garbage", name: "Dee" } }, { source: "segment" })]);
  await drain(server);
  expect(await userRow(db, "u-wins")).toMatchObject({ email: "dee@example.com", name: "Dee" });
  expect(await count(db, "SELECT count(*) AS n FROM quarantine WHERE external_user_id = 'u-wins'")).toBe(0);
});

test("known traits that cannot be stored go to quarantine as invalid_trait, payload verbatim", async () => {
  const db = server.ctx.database;
  const bad = [
    '{"external_user_id":"u-bad-1","traits":{"signup_date":"last tuesday"}}',
    '{"external_user_id":"u-bad-2","traits":{"name":{"first":"A"}}}',
    '{"external_user_id":"u-bad-3","traits":{"email":"not-an-address"}}',
  ];
  await enqueue(db, bad.map((payload) => ({ kind: "identify" as const, payload, source: "bulk" })));
  await drain(server);
  const q = await rows(db, "SELECT reason, payload, external_user_id, source FROM quarantine WHERE external_user_id LIKE 'u-bad-%' ORDER BY external_user_id");
  expect(q.map((r) => r.reason)).toEqual(["invalid_trait", "invalid_trait", "invalid_trait"]);
  expect(q.map((r) => r.payload)).toEqual(bad);
  expect(q[0]!.source).toBe("bulk");
  expect(await count(db, "SELECT count(*) AS n FROM tracked_users WHERE external_user_id LIKE 'u-bad-%'")).toBe(0);
});

test("trait keys in two spellings with different values are ambiguous; equal values merge", async () => {
  const db = server.ctx.database;
  await enqueue(db, [
    identify("u-amb", { traits: { accountId: 1, account_id: 2 } }),
    identify("u-same", { traits: { accountId: 7, account_id: 7 } }),
  ]);
  await drain(server);
  expect((await rows(db, "SELECT reason FROM quarantine WHERE external_user_id = 'u-amb'"))[0]!.reason).toBe("ambiguous_key");
  expect(JSON.parse((await userRow(db, "u-same"))!.traits)).toEqual({ account_id: 7 });
});

test("a bulk identify with a signup older than 24h creates a backfilled user; a fresh one does not", async () => {
  const db = server.ctx.database;
  const t = Date.now();
  await enqueue(db, [
    identify("u-old", { traits: { signup_date: new Date(t - 30 * 86_400_000).toISOString() } }, { source: "bulk", receivedAt: t }),
    identify("u-new", { traits: { signup_date: new Date(t - 3_600_000).toISOString() } }, { source: "bulk", receivedAt: t }),
    identify("u-api-old", { traits: { signup_date: new Date(t - 30 * 86_400_000).toISOString() } }, { source: "api", receivedAt: t }),
  ]);
  await drain(server);
  expect((await userRow(db, "u-old"))!.backfilled).toBe(1);
  expect((await userRow(db, "u-new"))!.backfilled).toBe(0);
  expect((await userRow(db, "u-api-old"))!.backfilled).toBe(0);
});
