import { afterEach, beforeEach, expect, test } from "bun:test";
import { listDrafts } from "../../src/drafts";
import { startSmtpSink, type SmtpSink } from "../mail/smtp-sink";
import { DAY, HOUR, MINUTE, startWorld } from "./support";

let sink: SmtpSink;
beforeEach(async () => {
  sink = await startSmtpSink();
});
afterEach(() => sink.close());

const DEFAULT_RULES = ["welcome", "onboarding_stalled", "trial_expiring", "payment_failed", "cancellation_save", "win_back", "inactive_14d", "first_feature"];
/** Only the named default rules stay enabled. */
const only = (...keep: string[]) =>
  DEFAULT_RULES.filter((id) => !keep.includes(id)).map((id) => `[[projects.rules]]\nid = "${id}"\nenabled = false\n`).join("");
const FAST = `autopilot = true\nreview_window = "0s"\nsend_window = { start = "00:00", end = "24:00" }\n`;

test("frequency cap: a second email to the same user within 24 h waits for the rolling window", async () => {
  const w = await startWorld(`${FAST}${only("welcome")}[[projects.rules]]\nid = "nudge"\nkind = "custom"\nevent = "pinged"\n`, `[smtp]\nurl = "${sink.url}"\n`);
  await w.signUp("ann");
  await w.track("ann", "pinged");
  await w.evaluate();
  expect(await listDrafts(w.server.ctx.database)).toHaveLength(2);
  const first = await w.tick();
  expect([first.queued, first.deferred]).toEqual([1, 1]);
  const [sentAt] = (await w.sql("SELECT created_at FROM messages")).map((r) => Number(r.created_at));
  const waiting = (await listDrafts(w.server.ctx.database, { state: "scheduled" }))[0]!;
  expect(waiting.sendAt).toBe(sentAt! + DAY); // the first send leaves the rolling window (t - 24 h, t] then
  const note = (await w.sql("SELECT note FROM draft_history WHERE draft_id = ? ORDER BY id DESC LIMIT 1", [waiting.id]))[0]!.note;
  expect(note).toContain("frequency cap: 1 per day");
  w.clock.advance(DAY - 1);
  expect((await w.tick()).queued).toBe(0);
  w.clock.advance(1);
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  expect(await sink.waitFor(2)).toHaveLength(2);
});

test("frequency cap per week counts the rolling 7 days", async () => {
  const rules = [1, 2, 3, 4].map((i) => `[[projects.rules]]\nid = "r${i}"\nkind = "custom"\nevent = "e${i}"\n`).join("");
  const w = await startWorld(`autopilot = true\nreview_window = "0s"\nfrequency_cap = { per_day = 0, per_week = 3 }\nsend_window = { start = "09:00", end = "18:00" }\n${only()}${rules}`, `[smtp]\nurl = "${sink.url}"\n`);
  await w.identify("bea");
  for (const i of [1, 2, 3, 4]) await w.track("bea", `e${i}`);
  await w.evaluate();
  const tick = await w.tick();
  expect([tick.queued, tick.deferred]).toEqual([3, 1]);
  const [oldest] = (await w.sql("SELECT min(created_at) AS t FROM messages")).map((r) => Number(r.t));
  const waiting = (await listDrafts(w.server.ctx.database, { state: "scheduled" }))[0]!;
  // oldest + 7 days is Monday 09:00 Berlin: inside the window, so exactly that.
  expect(waiting.sendAt).toBe(oldest! + 7 * DAY);
});

test("a send the cap moves outside the send window waits for the window's next opening", async () => {
  const rules = [1, 2].map((i) => `[[projects.rules]]\nid = "r${i}"\nkind = "custom"\nevent = "e${i}"\n`).join("");
  const w = await startWorld(`autopilot = true\nreview_window = "0s"\nsend_window = { start = "09:00", end = "18:00", days = ["mon"] }\n${only()}${rules}`, `[smtp]\nurl = "${sink.url}"\n`);
  await w.identify("cy");
  for (const i of [1, 2]) await w.track("cy", `e${i}`);
  await w.evaluate();
  expect((await w.tick()).deferred).toBe(1);
  const waiting = (await listDrafts(w.server.ctx.database, { state: "scheduled" }))[0]!;
  expect(new Date(waiting.sendAt).toISOString()).toBe("2026-03-09T08:00:00.000Z"); // not Tuesday: next Monday 09:00 Berlin
});

test("throttle: at most N of a rule's drafts go out per hour across all users", async () => {
  const w = await startWorld(`${FAST}${only("welcome")}[[projects.rules]]\nid = "welcome"\nthrottle = 2\n`, `[smtp]\nurl = "${sink.url}"\n`);
  for (const u of ["a1", "a2", "a3"]) await w.signUp(u);
  await w.evaluate();
  const tick = await w.tick();
  expect([tick.queued, tick.deferred]).toEqual([2, 1]);
  const waiting = (await listDrafts(w.server.ctx.database, { state: "scheduled" }))[0]!;
  const [oldest] = (await w.sql("SELECT min(created_at) AS t FROM messages")).map((r) => Number(r.t));
  expect(waiting.sendAt).toBe(oldest! + HOUR);
  w.clock.advance(HOUR - 1);
  expect((await w.tick()).queued).toBe(0);
  w.clock.advance(1);
  expect((await w.tick()).queued).toBe(1);
  expect(await sink.waitFor(3)).toHaveLength(3);
});

test("the re-check before sending cancels a draft whose rule no longer holds (converted before the trial ended)", async () => {
  const w = await startWorld(`autopilot = true\nreview_window = "1h"\nsend_window = { start = "00:00", end = "24:00" }\n${only("trial_expiring")}`, `[smtp]\nurl = "${sink.url}"\n`);
  await w.identify("tia");
  await w.track("tia", "trial_started", { trialDays: 2 });
  await w.identify("tom");
  await w.track("tom", "trial_started", { trialDays: 2 });
  await w.evaluate();
  expect(await listDrafts(w.server.ctx.database, { state: "scheduled" })).toHaveLength(2);
  w.clock.advance(30 * MINUTE);
  await w.track("tia", "subscription_changed", { to: "pro", mrr: 2900 });
  await w.evaluate();
  w.clock.advance(30 * MINUTE);
  const tick = await w.tick();
  expect([tick.queued, tick.cancelled]).toEqual([1, 1]);
  const cancelled = (await listDrafts(w.server.ctx.database, { state: "cancelled" }))[0]!;
  expect(cancelled.externalUserId).toBe("tia");
  expect(cancelled.reason).toBe("the rule's condition no longer holds");
  const [arrival] = await sink.waitFor(1);
  expect(arrival!.envelopeTo).toEqual(["tom@example.com"]);
  expect(arrival!.mail.subject).toBe("Your Acme trial ends soon");
});

test("a paused or suppressed user's scheduled draft is cancelled with the reason", async () => {
  const w = await startWorld(`autopilot = true\nreview_window = "1h"\n${only("welcome")}`, `[smtp]\nurl = "${sink.url}"\n`);
  await w.signUp("pam");
  await w.signUp("sid");
  await w.evaluate();
  await w.server.ctx.database.execute("UPDATE tracked_users SET paused = 1 WHERE external_user_id = 'pam'");
  await w.server.ctx.database.execute("INSERT INTO suppressions (project_id, email, reason, created_at) VALUES ('acme', 'sid@example.com', 'manual', 0)");
  w.clock.advance(HOUR);
  const tick = await w.tick();
  expect(tick.cancelled).toBe(2);
  const reasons = (await listDrafts(w.server.ctx.database)).map((d) => `${d.externalUserId}: ${d.reason}`).sort();
  expect(reasons).toEqual(["pam: the user is paused", "sid: the address is suppressed"]);
  expect(sink.arrivals).toHaveLength(0);
});
