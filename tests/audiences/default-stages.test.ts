import { expect, test } from "bun:test";
import { drainQueue } from "../../src/pipeline";
import { runEvaluator } from "../../src/rules";
import { members, serverUnderClock } from "./support";

/**
 * SPEC §6 default audiences `paying`, `past_due`, `cancelled`, `churned` (docs/audiences.md): a user moved
 * through the paid lifecycle (SPEC §5.5) by real ingest → normaliser → membership, with churn applied by the
 * hourly evaluator once effectiveAt + churn_grace has passed. No custom audiences: only the defaults.
 */
const HOUR = 3_600_000;
const T = Date.parse("2026-06-01T09:00:00Z");
const CONFIG = `[[projects]]
id = "acme"
churn_grace = "1h"
`;
const STAGE_AUDIENCES = ["paying", "past_due", "cancelled", "churned"] as const;

const site = serverUnderClock(CONFIG, T);
const { clock, post } = site;

const event = (user: string, name: string, properties: Record<string, unknown> = {}) =>
  post("/api/v1/events", { external_user_id: user, name, properties });

/** Which of the four stage audiences each user is a member of right now. */
async function membership(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const a of STAGE_AUDIENCES) out[a] = await members(site.server.ctx.database, "acme", a);
  return out;
}

async function history(user: string): Promise<[string, number, number | null][]> {
  const rs = await site.server.ctx.database.read({
    sql: `SELECT h.audience_id, h.entered_at, h.exited_at FROM audience_history h JOIN tracked_users u ON u.id = h.user_id
          WHERE u.project_id = 'acme' AND u.external_user_id = ? AND h.audience_id IN ('paying', 'past_due', 'cancelled', 'churned')
          ORDER BY h.entered_at, h.audience_id`,
    args: [user],
  });
  return rs.rows.map((r) => [String(r.audience_id), Number(r.entered_at), r.exited_at === null ? null : Number(r.exited_at)]);
}

test("paying → past_due → cancelled → churned: each default audience in turn, leaving the previous, with entries and exits recorded", async () => {
  const db = site.server.ctx.database;
  // `stay` keeps paying throughout: the moves below are per user, not audience-wide.
  await post("/api/v1/users", { external_user_id: "pat", email: "pat@example.com" });
  await post("/api/v1/users", { external_user_id: "stay", email: "stay@example.com" });
  await event("pat", "subscription_changed", { from: "free", to: "pro", interval: "month", mrr: 4900 });
  await event("stay", "subscription_changed", { to: "pro", mrr: 1900 });
  await drainQueue(site.server.ctx);
  expect(await membership()).toEqual({ paying: ["pat", "stay"], past_due: [], cancelled: [], churned: [] });

  clock.advance(HOUR);
  await event("pat", "payment_failed", { reason: "card_declined" });
  await drainQueue(site.server.ctx);
  expect(await membership()).toEqual({ paying: ["stay"], past_due: ["pat"], cancelled: [], churned: [] });

  clock.advance(HOUR); // T + 2h: cancelled, effective an hour later; churn due at effectiveAt + churn_grace = T + 4h
  await event("pat", "subscription_cancelled", { reason: "too_expensive", effectiveAt: new Date(T + 3 * HOUR).toISOString() });
  await drainQueue(site.server.ctx);
  expect(await membership()).toEqual({ paying: ["stay"], past_due: [], cancelled: ["pat"], churned: [] });

  // Past effectiveAt but still inside the grace: the evaluator leaves pat cancelled.
  clock.set(T + 4 * HOUR - 60_000);
  await runEvaluator(site.server.ctx, { trigger: "manual" });
  expect(await membership()).toEqual({ paying: ["stay"], past_due: [], cancelled: ["pat"], churned: [] });

  // Grace over: the evaluator churns pat, who leaves `cancelled` and enters `churned`.
  clock.set(T + 4 * HOUR);
  await runEvaluator(site.server.ctx, { trigger: "manual" });
  expect(await membership()).toEqual({ paying: ["stay"], past_due: [], cancelled: [], churned: ["pat"] });
  const pat = await db.read("SELECT stage FROM tracked_users WHERE project_id = 'acme' AND external_user_id = 'pat'");
  expect(pat.rows[0]!.stage).toBe("churned");

  // One closed history row per stage audience left, at the time of each move; `churned` is still open.
  expect(await history("pat")).toEqual([
    ["paying", T, T + HOUR],
    ["past_due", T + HOUR, T + 2 * HOUR],
    ["cancelled", T + 2 * HOUR, T + 4 * HOUR],
    ["churned", T + 4 * HOUR, null],
  ]);
  expect(await history("stay")).toEqual([["paying", T, null]]);
  // A member row exists exactly while its history row is open.
  const open = await db.read(`SELECT count(*) AS n FROM audience_history h WHERE h.exited_at IS NULL AND NOT EXISTS
    (SELECT 1 FROM audience_members am WHERE am.project_id = h.project_id AND am.audience_id = h.audience_id AND am.user_id = h.user_id)`);
  expect(Number(open.rows[0]!.n)).toBe(0);
}, 60_000);
