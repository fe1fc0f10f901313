import { expect, test } from "bun:test";
import { drainQueue } from "../../src/pipeline";
import { runEvaluator } from "../../src/rules";
import { DAY, members, serverUnderClock } from "./support";

/**
 * SPEC §6 user fields `name`, `role` and `first_seen_at` in audience filters (syntax: docs/audiences.md),
 * through the real parts: TOML config → HTTP ingest → normaliser → audience_members, and the evaluator's
 * recompute for what time alone changes.
 */
const CONFIG = `[[projects]]
id = "acme"
  [[projects.audiences]]
  id = "anns"
  filter = { field = "name", starts_with = "Ann" }
  [[projects.audiences]]
  id = "admins"
  filter = { field = "role", eq = "admin" }
  [[projects.audiences]]
  id = "veterans"
  filter = { field = "first_seen_at", older_than = "2d" }
`;
const T = Date.parse("2026-06-10T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

const site = serverUnderClock(CONFIG, T);
const { clock, post } = site;

const identify = (user: string, traits: Record<string, unknown>) => post("/api/v1/users", { external_user_id: user, traits });
const seenAt = (user: string, at: number) => post("/api/v1/events", { external_user_id: user, name: "opened_app", timestamp: iso(at) });

async function audiences(): Promise<Record<string, string[]>> {
  const db = site.server.ctx.database;
  return { anns: await members(db, "acme", "anns"), admins: await members(db, "acme", "admins"), veterans: await members(db, "acme", "veterans") };
}

test("custom audiences on name (starts_with), role (eq) and first_seen_at (older_than) match the right users only", async () => {
  const db = site.server.ctx.database;
  // ann:  name starts with "Ann", role admin, first seen 3 days ago → all three.
  // anne: "anne-marie" (starts_with ignores ASCII case), role "Admin" (eq is exact), first seen 1 day ago.
  // bob:  "Bob Annson" contains but does not start with "Ann", role "member", first seen exactly 2 days ago (≤ now − 2d).
  // cid:  no name, role "administrator", first seen now (his identify).
  await identify("ann", { name: "Annabel Lee", role: "admin" });
  await identify("anne", { name: "anne-marie", role: "Admin" });
  await identify("bob", { name: "Bob Annson", role: "member" });
  await identify("cid", { role: "administrator" });
  // Seen recently too (ann, bob): first_seen_at is the earliest event, not the latest (last_seen_at).
  await seenAt("ann", T - 3 * DAY);
  await seenAt("ann", T);
  await seenAt("anne", T - DAY);
  await seenAt("bob", T - 2 * DAY);
  await seenAt("bob", T - 3_600_000);
  await drainQueue(site.server.ctx);

  const seen = await db.read("SELECT external_user_id AS x, first_seen_at AS f, last_seen_at AS l FROM tracked_users WHERE project_id = 'acme' ORDER BY x");
  expect(seen.rows.map((r) => [r.x, Number(r.f), r.l === null ? null : Number(r.l)])).toEqual([
    ["ann", T - 3 * DAY, T],
    ["anne", T - DAY, T - DAY],
    ["bob", T - 2 * DAY, T - 3_600_000],
    ["cid", T, null],
  ]);
  expect(await audiences()).toEqual({ anns: ["ann", "anne"], admins: ["ann"], veterans: ["ann", "bob"] });

  // Field changes move users on the normaliser's refresh: ann is renamed, cid becomes an admin.
  clock.advance(60_000);
  await identify("ann", { name: "Hannah Lee" });
  await identify("cid", { role: "admin" });
  await drainQueue(site.server.ctx);
  expect(await audiences()).toEqual({ anns: ["anne"], admins: ["ann", "cid"], veterans: ["ann", "bob"] });

  // A day later anne's first_seen_at is 2 days old: only time changed, so the evaluator's recompute moves her in.
  clock.set(T + DAY);
  await runEvaluator(site.server.ctx, { trigger: "manual" });
  expect(await audiences()).toEqual({ anns: ["anne"], admins: ["ann", "cid"], veterans: ["ann", "anne", "bob"] });

  const history = await db.read(`SELECT h.audience_id AS a, u.external_user_id AS x, h.entered_at AS e, h.exited_at AS q
    FROM audience_history h JOIN tracked_users u ON u.id = h.user_id
    WHERE h.audience_id IN ('anns', 'admins', 'veterans') ORDER BY a, x, e`);
  expect(history.rows.map((r) => [r.a, r.x, Number(r.e), r.q === null ? null : Number(r.q)])).toEqual([
    ["admins", "ann", T, null],
    ["admins", "cid", T + 60_000, null],
    ["anns", "ann", T, T + 60_000],
    ["anns", "anne", T, null],
    ["veterans", "ann", T, null],
    ["veterans", "anne", T + DAY, null],
    ["veterans", "bob", T, null],
  ]);
}, 60_000);
