import { afterEach, beforeEach, expect, test } from "bun:test";
import { listDrafts, rejectDraft, rescheduleDraft } from "../../src/drafts";
import { startSmtpSink, type SmtpSink } from "../mail/smtp-sink";
import { HOUR, MINUTE, ONLY_WELCOME, startWorld, T0 } from "./support";

// SPEC §8: "Autopilot on: the draft is `scheduled` and goes out at its deadline unless someone edits, reschedules
// or rejects it first." Real ingest → normaliser → evaluator → draft, the real sending tick under the manual clock,
// a real SMTP receiver.

let sink: SmtpSink;
beforeEach(async () => {
  sink = await startSmtpSink();
});
afterEach(() => sink.close());

const AUTOPILOT = `autopilot = true\n${ONLY_WELCOME}`;
const smtp = () => `[smtp]\nurl = "${sink.url}"\n`;

async function draftsByUser(w: Awaited<ReturnType<typeof startWorld>>) {
  return Object.fromEntries((await listDrafts(w.server.ctx.database, { projectId: "acme" })).map((d) => [d.externalUserId!, d]));
}

test("an autopilot draft rejected before its deadline is never sent, while an untouched one goes out at the deadline", async () => {
  const w = await startWorld(AUTOPILOT, smtp());
  await w.signUp("ann");
  await w.signUp("bob"); // untouched: shows that the tick does send at this deadline
  await w.evaluate();
  const before = await draftsByUser(w);
  expect([before.ann!.state, before.bob!.state]).toEqual(["scheduled", "scheduled"]);
  const deadline = before.ann!.deadline;
  expect(deadline).toBe(T0 + 2 * HOUR); // Monday 11:00 in Berlin: inside the default send window
  expect(before.ann!.sendAt).toBe(deadline);

  w.clock.set(deadline - 30 * MINUTE);
  await rejectDraft(w.server.ctx.database, before.ann!.id, "dashboard:jane", "not this one");

  // Past the deadline, several ticks.
  w.clock.set(deadline);
  const first = await w.tick();
  w.clock.set(deadline + HOUR);
  const second = await w.tick();
  w.clock.set(deadline + 3 * HOUR);
  const third = await w.tick();
  const sent = [...first.outcomes, ...second.outcomes, ...third.outcomes];
  expect(sent.map((o) => o.outcome)).toEqual(["sent"]); // bob's only

  await sink.waitFor(1);
  await Bun.sleep(300); // slack for a second message that must not come
  expect(sink.arrivals.map((a) => a.envelopeTo)).toEqual([["bob@example.com"]]);

  const after = await draftsByUser(w);
  expect([after.ann!.state, after.ann!.reason]).toEqual(["rejected", "not this one"]);
  expect(after.bob!.state).toBe("sent");
  expect(await w.sql("SELECT count(*) AS n FROM messages WHERE draft_id = ?", [before.ann!.id])).toEqual([{ n: 0 }]);
});

test("an autopilot draft rescheduled to a later time is not sent at its old deadline but at the new one", async () => {
  const w = await startWorld(AUTOPILOT, smtp());
  await w.signUp("cat");
  await w.evaluate();
  const [draft] = await listDrafts(w.server.ctx.database, { projectId: "acme" });
  expect(draft!.state).toBe("scheduled");
  const oldDeadline = draft!.deadline;
  expect(oldDeadline).toBe(T0 + 2 * HOUR);

  w.clock.set(T0 + HOUR);
  const later = T0 + 5 * HOUR; // Monday 14:00 in Berlin: inside the window
  await rescheduleDraft(w.server.ctx.database, draft!.id, later, "cli");

  // At and after the old deadline: nothing goes out.
  for (const t of [oldDeadline, oldDeadline + HOUR, later - MINUTE]) {
    w.clock.set(t);
    expect((await w.tick()).outcomes).toEqual([]);
  }
  await Bun.sleep(300);
  expect(sink.arrivals).toEqual([]);
  expect((await draftsByUser(w)).cat!.state).toBe("scheduled");

  // At the new time it does.
  w.clock.set(later);
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  const [arrival] = await sink.waitFor(1);
  expect(arrival!.envelopeTo).toEqual(["cat@example.com"]);
  expect(arrival!.mail.subject).toBe("Welcome to Acme, Cat");
  const sentAt = await w.sql("SELECT at FROM draft_history WHERE draft_id = ? AND to_state = 'sent'", [draft!.id]);
  expect(sentAt).toEqual([{ at: later }]);
});
