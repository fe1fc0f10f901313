import { afterAll, beforeAll, expect, test } from "bun:test";
import { recomputeAudiences, refreshMembership } from "../../src/audiences";
import { parseConfig } from "../../src/config/load";
import type { Database } from "../../src/db/client";
import { DAY, insertEvent, insertUser, openTestDb, T0, updateUser } from "./support";

/**
 * Property test: for random users, events and filters, refreshing the touched users (the normaliser's path)
 * and recomputing the whole project (the evaluator's path) must agree — they share one compiler.
 */
const SEED = Number(process.env.AUDIENCE_SEED ?? 20260302);

function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof rng>;

const PLANS = ["free", "pro", "team", null] as const;
const STAGES = ["signed_up", "trialing", "active", "past_due", "cancelled", "churned", null] as const;
const EVENTS = ["feature_used", "report_shared", "user_invited"] as const;
const FEATURES = ["export", "import", "share"] as const;

function randomUser(r: Rng, i: number) {
  const time = () => (r.chance(0.15) ? null : T0 - r.int(40) * DAY - r.int(DAY));
  return {
    external: `u${i}`,
    email: r.chance(0.2) ? null : `${r.pick(["ann", "bob", "Cat"])}${i}@${r.pick(["acme.io", "example.com", "ACME.io"])}`,
    plan: r.pick(PLANS),
    stage: r.pick(STAGES),
    mrr: r.chance(0.3) ? null : r.pick([0, 900, 4900, 19900]),
    company: r.pick(["Acme", "Bobco", null]),
    signup_date: time(),
    last_seen_at: time(),
    traits: Object.fromEntries(
      [
        ["company_size", r.pick([5, 50, 500, "big"])],
        ["beta", r.pick([true, false])],
        ["region", r.pick(["eu-west", "us-east"])],
        ["renews_at", r.pick([new Date(T0 + (r.int(20) - 10) * DAY).toISOString(), T0 + (r.int(20) - 10) * DAY])],
      ].filter(() => r.chance(0.7)),
    ),
  };
}

function randomLeaf(r: Rng): unknown {
  const ago = () => new Date(T0 - r.int(40) * DAY).toISOString();
  const dur = () => r.pick(["1d", "7d", "14d", "30d"]);
  switch (r.int(12)) {
    case 0: return { field: "plan", [r.pick(["eq", "neq"])]: r.pick(["free", "pro", "team"]) };
    case 1: return { field: "stage", [r.pick(["in", "not_in"])]: ["trialing", "active", "churned"].slice(0, 1 + r.int(3)) };
    case 2: return { field: "email", [r.pick(["contains", "starts_with", "ends_with"])]: r.pick(["acme", "bob", "@acme.io", "cat"]) };
    case 3: return { field: r.pick(["email", "plan", "company", "mrr"]), exists: r.chance(0.5) };
    case 4: return { field: "mrr", [r.pick(["gt", "gte", "lt", "lte", "eq"])]: r.pick([0, 900, 4900]) };
    case 5: return { field: r.pick(["signup_date", "lastSeenAt"]), [r.pick(["before", "after"])]: ago() };
    case 6: return { field: r.pick(["signup_date", "last_seen_at"]), [r.pick(["older_than", "newer_than"])]: dur() };
    case 7: return { field: r.pick(["traits.companySize", "traits.company_size"]), [r.pick(["gt", "lte", "eq", "neq"])]: r.pick([5, 50, 500]) };
    case 8: return { field: r.pick(["traits.beta", "traits.region"]), [r.pick(["eq", "neq", "exists"])]: r.pick([true, false]) };
    case 9: return r.chance(0.5) ? { field: "traits.renews_at", [r.pick(["older_than", "newer_than"])]: dur() } : { field: "traits.renews_at", [r.pick(["before", "after"])]: ago() };
    default: {
      const event: Record<string, unknown> = { [r.pick(["performed", "not_performed"])]: r.pick(EVENTS) };
      if (r.chance(0.5)) event.at_least = 1 + r.int(4);
      if (r.chance(0.3)) event.at_most = ((event.at_least as number) ?? 1) + r.int(3);
      if (r.chance(0.5)) event.within = dur();
      if (r.chance(0.4)) event.where = r.chance(0.5) ? { field: "feature", in: FEATURES.slice(0, 1 + r.int(2)) } : [{ field: "count", gte: r.int(4) }];
      return event;
    }
  }
}

function randomFilter(r: Rng, depth = 0): unknown {
  if (depth >= 3 || r.chance(0.45)) return randomLeaf(r);
  const kind = r.pick(["all", "any", "not"] as const);
  if (kind === "not") return { not: randomFilter(r, depth + 1) };
  return { [kind]: Array.from({ length: 1 + r.int(3) }, () => randomFilter(r, depth + 1)) };
}

async function addEvents(database: Database, r: Rng, userId: number, n: number, at: number) {
  for (let k = 0; k < n; k++) {
    await insertEvent(database, "rnd", userId, r.pick(EVENTS), at - r.int(35) * DAY - r.int(DAY), { feature: r.pick(FEATURES), count: r.int(5) });
  }
}

let db: { database: Database; close(): void };
beforeAll(async () => {
  db = await openTestDb();
});
afterAll(() => db.close());

/** Open history rows are exactly the current members: every entry and exit was recorded. */
async function expectHistoryMatchesMembers() {
  const rs = await db.database.read(
    `SELECT (SELECT count(*) FROM audience_history WHERE project_id = 'rnd' AND exited_at IS NULL) AS open,
            (SELECT count(*) FROM audience_members WHERE project_id = 'rnd') AS members,
            (SELECT count(*) FROM audience_history h WHERE project_id = 'rnd' AND exited_at IS NULL AND NOT EXISTS
               (SELECT 1 FROM audience_members m WHERE m.project_id = h.project_id AND m.audience_id = h.audience_id AND m.user_id = h.user_id)) AS orphans`,
  );
  const row = rs.rows[0]!;
  expect({ open: Number(row.open), orphans: Number(row.orphans) }).toEqual({ open: Number(row.members), orphans: 0 });
}

const snapshot = async () =>
  (await db.database.read("SELECT audience_id, user_id FROM audience_members WHERE project_id = 'rnd' ORDER BY 1, 2")).rows.map((row) => `${row.audience_id}:${row.user_id}`);

test(`refresh of touched users and whole-project recompute agree (seed ${SEED})`, async () => {
  const r = rng(SEED);
  const d = db.database;
  const audiences: { id: string; filter: unknown }[] = Array.from({ length: 30 }, (_, i) => ({ id: `a${i}`, filter: randomFilter(r) }));
  // Stage-scoped audiences take the recompute's narrow path (stage index); the refresh never does.
  for (let i = 0; i < 4; i++) {
    audiences.push({ id: `s${i}`, filter: { all: [randomFilter(r), { field: "stage", in: ["trialing", "active", "churned"].slice(i % 3) }] } });
  }
  const project = parseConfig({ projects: [{ id: "rnd", audiences }] }).projects[0]!;

  // Round 0: users arrive in batches; each batch is refreshed as the normaliser would.
  const ids: number[] = [];
  for (let i = 0; i < 120; i++) {
    const id = await insertUser(d, "rnd", randomUser(r, i));
    await addEvents(d, r, id, r.int(8), T0);
    ids.push(id);
  }
  for (let i = 0; i < ids.length; i += 17) await d.write((tx) => refreshMembership(tx, project, ids.slice(i, i + 17), T0));
  const byRefresh = await snapshot();
  await expectHistoryMatchesMembers();
  // The recompute over the same data and time finds nothing to change.
  expect(await recomputeAudiences(d, project, T0, { chunkSize: 13 })).toMatchObject({ entered: 0, exited: 0 });
  expect(await snapshot()).toEqual(byRefresh);

  // The filters are not vacuous: audiences of very different sizes.
  const sizes = audiences.map((a) => byRefresh.filter((m) => m.startsWith(`${a.id}:`)).length);
  expect(sizes.filter((n) => n > 0 && n < ids.length).length).toBeGreaterThan(10);

  // Rounds 1-3: change some users, refresh only those; a recompute then agrees with no changes.
  for (let round = 1; round <= 3; round++) {
    const touched = ids.filter(() => r.chance(0.3));
    for (const id of touched) {
      const u = randomUser(r, id);
      await updateUser(d, id, { plan: u.plan, stage: u.stage, mrr: u.mrr, email: u.email, last_seen_at: u.last_seen_at });
      await addEvents(d, r, id, r.int(4), T0);
    }
    await d.write((tx) => refreshMembership(tx, project, touched, T0));
    const refreshed = await snapshot();
    await expectHistoryMatchesMembers();
    expect(await recomputeAudiences(d, project, T0, { chunkSize: 29 })).toMatchObject({ entered: 0, exited: 0 });
    expect(await snapshot()).toEqual(refreshed);
  }

  // The other direction: users change behind the audiences' back (as time-based conditions do); the recompute
  // finds every entry and exit, and a refresh of everyone afterwards finds nothing left to change.
  for (let round = 4; round <= 5; round++) {
    for (const id of ids.filter(() => r.chance(0.4))) {
      const u = randomUser(r, id);
      await updateUser(d, id, { plan: u.plan, stage: u.stage, mrr: u.mrr, email: u.email, last_seen_at: u.last_seen_at });
      await addEvents(d, r, id, r.int(4), T0);
    }
    const change = await recomputeAudiences(d, project, T0, { chunkSize: 23 });
    expect(change.entered + change.exited).toBeGreaterThan(0);
    await expectHistoryMatchesMembers();
    expect(await d.write((tx) => refreshMembership(tx, project, ids, T0))).toEqual({ entered: 0, exited: 0 });
  }

  // Time passes: a refresh of everyone and a recompute still agree, and history stays consistent.
  const later = T0 + 10 * DAY;
  await d.write((tx) => refreshMembership(tx, project, ids, later));
  const refreshedLater = await snapshot();
  await expectHistoryMatchesMembers();
  expect(await recomputeAudiences(d, project, later)).toMatchObject({ entered: 0, exited: 0 });
  expect(await snapshot()).toEqual(refreshedLater);
  await expectHistoryMatchesMembers();
}, 60_000);
