import { afterEach, beforeEach, expect, test } from "bun:test";
import { listDrafts } from "../../src/drafts";
import { startSmtpSink, type SmtpSink } from "../mail/smtp-sink";
import { DAY, startWorld } from "./support";

// SPEC §1: frequency_cap defaults to at most 1 email per user per 24 h and 3 per 7 days (rolling).
let sink: SmtpSink;
beforeEach(async () => {
  sink = await startSmtpSink();
});
afterEach(() => sink.close());

const DEFAULT_RULES = ["welcome", "onboarding_stalled", "trial_expiring", "payment_failed", "cancellation_save", "win_back", "inactive_14d", "first_feature"];
const NO_DEFAULT_RULES = DEFAULT_RULES.map((id) => `[[projects.rules]]\nid = "${id}"\nenabled = false\n`).join("");
const RULES = [1, 2, 3, 4].map((i) => `[[projects.rules]]\nid = "r${i}"\nkind = "custom"\nevent = "e${i}"\n`).join("");
// No frequency_cap key: the defaults apply.
const PROJECT = `autopilot = true\nreview_window = "0s"\nsend_window = { start = "00:00", end = "24:00" }\n${NO_DEFAULT_RULES}${RULES}`;

test("default frequency cap: 1 per 24 h, 3 per 7 days — days 1, 2 and 3 go out, a 4th on day 4 waits for first send + 7 days", async () => {
  const w = await startWorld(PROJECT, `[smtp]\nurl = "${sink.url}"\n`);
  expect(w.server.ctx.config.projects[0]!.frequency_cap).toEqual({ per_day: 1, per_week: 3 });
  await w.identify("dee");

  // Day 1: two drafts at once — one goes, the other waits a day (1 per 24 h).
  await w.track("dee", "e1");
  await w.track("dee", "e2");
  await w.evaluate();
  const day1 = await w.tick();
  expect([day1.queued, day1.deferred]).toEqual([1, 1]);
  const first = Number((await w.sql("SELECT min(created_at) AS t FROM messages"))[0]!.t);
  const waiting = (await listDrafts(w.server.ctx.database, { state: "scheduled" }))[0]!;
  expect(waiting.sendAt).toBe(first + DAY);

  // Day 2: the deferred one goes out.
  w.clock.advance(DAY);
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);

  // Day 3: a third send in the week still goes out.
  w.clock.advance(DAY);
  await w.track("dee", "e3");
  await w.evaluate();
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  expect(await sink.waitFor(3)).toHaveLength(3);

  // Day 4: a fourth within 7 days of the first is deferred until exactly first send + 7 days.
  w.clock.advance(DAY);
  await w.track("dee", "e4");
  await w.evaluate();
  const day4 = await w.tick();
  expect([day4.queued, day4.deferred]).toEqual([0, 1]);
  const fourth = (await listDrafts(w.server.ctx.database, { state: "scheduled" }))[0]!;
  expect(fourth.sendAt).toBe(first + 7 * DAY);
  const note = (await w.sql("SELECT note FROM draft_history WHERE draft_id = ? ORDER BY id DESC LIMIT 1", [fourth.id]))[0]!.note;
  expect(note).toContain("frequency cap: 3 per week");

  // It goes out at that moment, not before.
  w.clock.set(first + 7 * DAY - 1);
  expect((await w.tick()).queued).toBe(0);
  w.clock.advance(1);
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  expect(await sink.waitFor(4)).toHaveLength(4);
  expect(await w.sql("SELECT count(*) AS n FROM messages WHERE state = 'sent'")).toEqual([{ n: 4 }]);
});
