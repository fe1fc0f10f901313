import { afterAll, beforeAll, expect, test } from "bun:test";
import { applyChurn } from "../../src/pipeline";
import type { TestServer } from "../support/harness";
import { drain, enqueue, identify, rows, startPipelineServer, track, userRow } from "./support";
import { DAY } from "../../src/lib/durations";

let server: TestServer;
beforeAll(async () => {
  server = await startPipelineServer();
});
afterAll(() => server.close());

const T = (iso: string) => Date.parse(iso);
const history = async (ext: string) => {
  const u = (await userRow(server.ctx.database, ext))!;
  return (await rows(server.ctx.database, "SELECT from_stage, to_stage, at FROM stage_history WHERE user_id = ? ORDER BY id", [u.id])).map(
    (h) => `${h.from_stage ?? "-"}>${h.to_stage}@${new Date(h.at).toISOString().slice(0, 10)}`,
  );
};

async function run(ext: string, events: [string, string, Record<string, unknown>?][]) {
  await enqueue(server.ctx.database, [identify(ext), ...events.map(([name, ts, properties]) => track(ext, name, { timestamp: ts, properties }))]);
  await drain(server);
  return (await userRow(server.ctx.database, ext))!;
}

test("the full lifecycle: signed_up → trialing → active → past_due → active → cancelled → churned", async () => {
  const u = await run("life", [
    ["user_signed_up", "2026-01-01T00:00:00Z", { plan: "free", source: "ads" }],
    ["trial_started", "2026-01-02T00:00:00Z", { trialDays: 14 }],
    ["trial_expiring", "2026-01-13T00:00:00Z", { daysLeft: 3 }],
    ["subscription_changed", "2026-01-16T00:00:00Z", { from: "free", to: "pro", interval: "month", mrr: 4900 }],
    ["payment_failed", "2026-02-16T00:00:00Z", { reason: "card_declined" }],
    ["subscription_changed", "2026-02-17T00:00:00Z", { to: "pro" }],
    ["subscription_cancelled", "2026-03-01T00:00:00Z", { reason: "price", effectiveAt: "2026-03-16T00:00:00Z" }],
  ]);
  expect(u).toMatchObject({ stage: "cancelled", plan: "pro", interval: "month", mrr: 4900, signup_date: T("2026-01-01T00:00:00Z") });
  expect(u.trial_ends_at).toBe(T("2026-01-13T00:00:00Z") + 3 * DAY);
  expect(u.churn_at).toBe(T("2026-03-16T00:00:00Z") + 14 * DAY);
  expect(await history("life")).toEqual([
    "->signed_up@2026-01-01",
    "signed_up>trialing@2026-01-02",
    "trialing>active@2026-01-16",
    "active>past_due@2026-02-16",
    "past_due>active@2026-02-17",
    "active>cancelled@2026-03-01",
  ]);
  const db = server.ctx.database;
  expect(await applyChurn(db, "acme", T("2026-03-30T00:00:00Z") - 1)).toEqual([]);
  expect(await applyChurn(db, "acme", T("2026-03-30T00:00:00Z"))).toEqual([u.id]);
  expect((await userRow(db, "life"))!.stage).toBe("churned");
  expect((await history("life")).at(-1)).toBe("cancelled>churned@2026-03-30");
  expect(await applyChurn(db, "acme", T("2026-04-30T00:00:00Z"))).toEqual([]); // once only
});

test("cancel without effectiveAt churns churn_grace after the cancel time; a paid subscription brings churned users back", async () => {
  const u = await run("back", [
    ["subscription_changed", "2026-01-01T00:00:00Z", { to: "pro", mrr: 1000 }],
    ["subscription_cancelled", "2026-01-10T00:00:00Z"],
  ]);
  expect(u.churn_at).toBe(T("2026-01-10T00:00:00Z") + 14 * DAY);
  await applyChurn(server.ctx.database, "acme", T("2026-02-01T00:00:00Z"));
  const again = await run("back", [["subscription_changed", "2026-03-01T00:00:00Z", { to: "pro", mrr: 1000 }]]);
  expect(again.stage).toBe("active");
  expect(again.churn_at).toBeNull();
  expect((await history("back")).slice(-2)).toEqual(["cancelled>churned@2026-01-24", "churned>active@2026-03-01"]);
});

test("out-of-order events never regress the stage, plan, trial end or last_seen_at", async () => {
  const u = await run("ooo", [
    ["subscription_changed", "2026-05-10T00:00:00Z", { to: "business", mrr: 9900, interval: "year" }],
    // All older than what the user already reflects:
    ["user_signed_up", "2026-05-01T00:00:00Z", { plan: "free" }],
    ["trial_started", "2026-05-02T00:00:00Z", { trialDays: 7 }],
    ["subscription_changed", "2026-05-05T00:00:00Z", { to: "pro", mrr: 4900, interval: "month" }],
    ["payment_failed", "2026-05-06T00:00:00Z"],
    ["subscription_cancelled", "2026-05-07T00:00:00Z"],
  ]);
  expect(u).toMatchObject({ stage: "active", plan: "business", mrr: 9900, interval: "year", stage_changed_at: T("2026-05-10T00:00:00Z") });
  expect(u.last_seen_at).toBe(T("2026-05-10T00:00:00Z"));
  expect(u.first_seen_at).toBe(T("2026-05-01T00:00:00Z"));
  expect(u.churn_at).toBeNull();
  expect(u.event_count).toBe(6);
  expect(await history("ooo")).toEqual(["->active@2026-05-10"]);
  // A trial event older than the one that set the trial end does not move it.
  const t = await run("trial-ooo", [
    ["trial_started", "2026-05-10T00:00:00Z", { trialDays: 14 }],
    ["trial_expiring", "2026-05-05T00:00:00Z", { daysLeft: 1 }],
  ]);
  expect(t.trial_ends_at).toBe(T("2026-05-10T00:00:00Z") + 14 * DAY);
});

test("a late cancellation or payment failure older than the latest subscription_changed does not undo it", async () => {
  const cancel = await run("late-cancel", [
    ["subscription_changed", "2026-05-01T00:00:00Z", { to: "pro", mrr: 2900 }],
    ["subscription_changed", "2026-05-20T00:00:00Z", { to: "business", mrr: 9900 }], // a renewal: still active
    ["subscription_cancelled", "2026-05-19T00:00:00Z", { reason: "x" }], // older, arrives last
  ]);
  expect(cancel).toMatchObject({ stage: "active", mrr: 9900, churn_at: null });
  expect(await history("late-cancel")).toEqual(["->active@2026-05-01"]);
  const failed = await run("late-failure", [
    ["subscription_changed", "2026-05-01T00:00:00Z", { to: "pro", mrr: 2900 }],
    ["subscription_changed", "2026-05-20T00:00:00Z", { to: "pro", mrr: 4900 }],
    ["payment_failed", "2026-05-19T00:00:00Z", { reason: "card" }],
  ]);
  expect(failed.stage).toBe("active");
  // A cancellation after the latest subscription still counts, late or not.
  const real = await run("real-cancel", [
    ["subscription_changed", "2026-05-01T00:00:00Z", { to: "pro", mrr: 2900 }],
    ["subscription_changed", "2026-05-20T00:00:00Z", { to: "pro", mrr: 4900 }],
    ["feature_used", "2026-05-25T00:00:00Z", { feature: "x" }],
    ["subscription_cancelled", "2026-05-21T00:00:00Z"],
  ]);
  expect(real.stage).toBe("cancelled");
});

test("the same history gives the same state whatever order it arrives in", async () => {
  const subscription: [string, string, Record<string, unknown>] = ["subscription_changed", "2026-05-10T09:00:00Z", { to: "pro", mrr: 2900, interval: "month" }];
  const signup: [string, string, Record<string, unknown>] = ["user_signed_up", "2026-05-10T12:00:00Z", { plan: "free", source: "ads" }];
  const trial: [string, string, Record<string, unknown>] = ["trial_started", "2026-05-10T11:00:00Z", { trialDays: 7 }];
  for (const [ext, events] of [
    ["order-a", [subscription, signup]],
    ["order-b", [signup, subscription]],
  ] as const) {
    const u = await run(ext, [...events]);
    expect({ ext, stage: u.stage, plan: u.plan, mrr: u.mrr, interval: u.interval, at: u.stage_changed_at }).toEqual({
      ext, stage: "active", plan: "pro", mrr: 2900, interval: "month", at: T("2026-05-10T09:00:00Z"),
    });
  }
  for (const [ext, events] of [
    ["trial-a", [trial, signup]],
    ["trial-b", [signup, trial]],
  ] as const) {
    const u = await run(ext, [...events]);
    expect({ ext, stage: u.stage, plan: u.plan, at: u.stage_changed_at }).toEqual({ ext, stage: "trialing", plan: "free", at: T("2026-05-10T11:00:00Z") });
  }
});

test("an event claiming a far-future time does not pin last_seen_at there (a Segment client with a broken clock)", async () => {
  const u = await run("clock", [
    ["opened_app", "2026-01-01T00:00:00Z"],
    ["opened_app", "2099-01-01T00:00:00Z"],
  ]);
  expect(u.last_seen_at).toBe(T("2026-01-01T00:00:00Z"));
  // As the API refuses it, the normaliser quarantines it (from Segment, or a replay): the user is not "seen
  // recently" until 2099.
  expect((await rows(server.ctx.database, "SELECT max(occurred_at) AS t FROM events WHERE user_id = ?", [u.id]))[0]!.t).toBe(T("2026-01-01T00:00:00Z"));
  const [q] = await rows(server.ctx.database, "SELECT reason, detail FROM quarantine WHERE external_user_id = 'clock'");
  expect(q!.reason).toBe("invalid_timestamp");
  expect(q!.detail).toContain("more than 24 h after");
});

test("past_due ends with the next subscription_changed, a move to a free plan (mrr 0) included — in either arrival order", async () => {
  const events: [string, string, Record<string, unknown>?][] = [
    ["subscription_changed", "2026-01-01T00:00:00Z", { to: "pro", mrr: 1000 }],
    ["payment_failed", "2026-01-10T00:00:00Z", { reason: "card_declined" }],
    ["subscription_changed", "2026-01-11T00:00:00Z", { from: "pro", to: "free", mrr: 0 }],
  ];
  for (const [ext, order] of [["pd-in-order", events], ["pd-reversed", [...events].reverse()]] as const) {
    const u = await run(ext, order);
    expect({ ext, stage: u.stage, plan: u.plan, mrr: u.mrr }).toEqual({ ext, stage: "active", plan: "free", mrr: 0 });
  }
});

test("in-order events still only move forward in rank, except a paid subscription_changed", async () => {
  const u = await run("rank", [
    ["subscription_changed", "2026-01-01T00:00:00Z", { to: "pro", mrr: 100 }],
    ["trial_started", "2026-01-02T00:00:00Z", { trialDays: 7 }], // active → trialing would be backwards
    ["user_signed_up", "2026-01-03T00:00:00Z"], // so would → signed_up
    ["subscription_changed", "2026-01-04T00:00:00Z", { to: "free", mrr: 0 }], // no paid subscription: stage kept
  ]);
  expect(u).toMatchObject({ stage: "active", plan: "free", mrr: 0 });
  expect(await history("rank")).toEqual(["->active@2026-01-01"]);
});

test("feature usage counts and onboarding progress", async () => {
  const db = server.ctx.database;
  const u = await run("feat", [
    ["feature_used", "2026-01-02T00:00:00Z", { feature: "export" }],
    ["feature_used", "2026-01-01T00:00:00Z", { feature: "export", count: 3 }],
    ["feature_used", "2026-01-03T00:00:00Z", { feature: "share" }],
    ["onboarding_step", "2026-01-01T00:00:00Z", { step: "connect", completed: true }],
    ["onboarding_step", "2026-01-02T00:00:00Z", { step: "connect", completed: false }],
    ["onboarding_step", "2026-01-02T00:00:00Z", { step: "invite" }],
  ]);
  await enqueue(db, [track("feat", "feature_used", { timestamp: "2026-01-05T00:00:00Z", properties: { feature: "export" } })]);
  await drain(server);
  expect(await rows(db, "SELECT feature, count, first_at, last_at FROM feature_usage WHERE user_id = ? ORDER BY feature", [u.id])).toEqual([
    { feature: "export", count: 5, first_at: T("2026-01-01T00:00:00Z"), last_at: T("2026-01-05T00:00:00Z") },
    { feature: "share", count: 1, first_at: T("2026-01-03T00:00:00Z"), last_at: T("2026-01-03T00:00:00Z") },
  ]);
  expect(await rows(db, "SELECT step, completed, first_at, last_at FROM onboarding_steps WHERE user_id = ? ORDER BY step", [u.id])).toEqual([
    { step: "connect", completed: 1, first_at: T("2026-01-01T00:00:00Z"), last_at: T("2026-01-02T00:00:00Z") },
    { step: "invite", completed: 0, first_at: T("2026-01-02T00:00:00Z"), last_at: T("2026-01-02T00:00:00Z") },
  ]);
});

test("audience membership is refreshed for the touched users inside the batch (real audiences wiring)", async () => {
  const db = server.ctx.database;
  const u = await run("aud", [["trial_started", "2026-01-02T00:00:00Z", { trialDays: 14 }]]);
  const member = await rows(db, "SELECT audience_id FROM audience_members WHERE user_id = ? AND project_id = 'acme'", [u.id]);
  expect(member.map((m) => m.audience_id)).toContain("trialing");
});
