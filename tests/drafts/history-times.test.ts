import { expect, test } from "bun:test";
import { approveDraft, listDrafts, rejectDraft, rescheduleDraft } from "../../src/drafts";
import { HOUR, MINUTE, ONLY_WELCOME, startWorld, T0 } from "./support";

// SPEC §8: "Every change is recorded with time and actor." Under the manual clock each change happens at its own,
// distinct time, so a row stamped with another change's time (or the creation time, or the wall clock) shows.

test("each draft_history row carries the clock time of its change and the actor who made it", async () => {
  const w = await startWorld(ONLY_WELCOME); // review mode; no SMTP: sent to the outbox
  await w.signUp("dan");
  const tCreate = T0 + 7 * MINUTE;
  w.clock.set(tCreate);
  await w.evaluate();
  const [draft] = await listDrafts(w.server.ctx.database, { projectId: "acme" });
  expect(draft!.state).toBe("pending_review");
  const { database, config } = w.server.ctx;

  const tApprove = T0 + 23 * MINUTE;
  w.clock.set(tApprove);
  await approveDraft(database, config, draft!.id, "dashboard:jane");

  const tReschedule = T0 + 41 * MINUTE;
  const newTime = T0 + 4 * HOUR; // Monday 13:00 in Berlin: inside the window
  w.clock.set(tReschedule);
  await rescheduleDraft(database, draft!.id, newTime, "cli");

  // The sender's own changes, at the new time.
  w.clock.set(newTime);
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);

  const history = await w.sql("SELECT from_state, to_state, actor, note, at FROM draft_history WHERE draft_id = ? ORDER BY id", [draft!.id]);
  expect(history).toEqual([
    { from_state: null, to_state: "pending_review", actor: "evaluator", note: "waiting for review", at: tCreate },
    { from_state: "pending_review", to_state: "scheduled", actor: "dashboard:jane", note: "approved", at: tApprove },
    { from_state: "scheduled", to_state: "scheduled", actor: "cli", note: `rescheduled to ${new Date(newTime).toISOString()}`, at: tReschedule },
    { from_state: "scheduled", to_state: "sending", actor: "system", note: expect.stringMatching(/^queued as msg_/), at: newTime },
    { from_state: "sending", to_state: "sent", actor: "sender", note: "stored in the outbox", at: newTime },
  ]);
});

test("a rejection is recorded at the time it happens, with the reviewer as actor", async () => {
  const w = await startWorld(ONLY_WELCOME);
  await w.signUp("eli");
  await w.evaluate();
  const [draft] = await listDrafts(w.server.ctx.database, { projectId: "acme" });
  const tReject = T0 + 53 * MINUTE;
  w.clock.set(tReject);
  await rejectDraft(w.server.ctx.database, draft!.id, "dashboard:ola", "duplicate");
  const history = await w.sql("SELECT from_state, to_state, actor, note, at FROM draft_history WHERE draft_id = ? ORDER BY id", [draft!.id]);
  expect(history).toEqual([
    { from_state: null, to_state: "pending_review", actor: "evaluator", note: "waiting for review", at: T0 },
    { from_state: "pending_review", to_state: "rejected", actor: "dashboard:ola", note: "duplicate", at: tReject },
  ]);
});
