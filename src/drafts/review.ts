import type { Config } from "../config/schema";
import type { Database } from "../db/client";
import type { DraftState } from "../db/schema/drafts";
import { now } from "../lib/clock";
import { ApiError } from "../lib/errors";
import type { Executor } from "../mail/tokens";
import { recordHistory, transitionDraft } from "./history";
import { getDraft, type DraftView } from "./queries";
import { finishContent, textToHtml } from "./render";
import { nextWindowSlot } from "./send-window";
import type { Actor } from "./types";

/**
 * The review actions of SPEC §8, for the dashboard and the CLI. Each runs in one write transaction and
 * records its change with the actor. Errors are `ApiError`s (404 not_found, 409 invalid_state, 422).
 */
const OPEN: readonly DraftState[] = ["pending_review", "scheduled"];

async function requireDraft(exec: Executor, id: string): Promise<DraftView> {
  const draft = await getDraft(exec, id);
  if (!draft) throw ApiError.of(404, "not_found", `No draft ${id}.`);
  return draft;
}

function invalidState(draft: DraftView, action: string): ApiError {
  return ApiError.of(409, "invalid_state", `Draft ${draft.id} is ${draft.state}; it cannot be ${action}.`);
}

/**
 * A reviewer acts on the draft as they saw it: `seen` is the `updated_at` of the page they acted from (the
 * dashboard sends it). If the draft changed since — another reviewer's edit, a redraft — the action would approve
 * or overwrite content they never saw, so it is refused.
 */
function checkSeen(draft: DraftView, seen: number | undefined): void {
  if (seen !== undefined && draft.updatedAt !== seen) {
    throw ApiError.of(409, "draft_changed", `Draft ${draft.id} changed since you opened it (edited by someone else, or redrafted): reload it and check again.`);
  }
}

/**
 * Approves a draft waiting for review: it is sent at its deadline, or — when the deadline has already passed —
 * at once if the send window is open, else when it next opens.
 */
export async function approveDraft(database: Database, config: Config, id: string, actor: Actor, seen?: number): Promise<DraftView> {
  return database.write(async (tx) => {
    const draft = await requireDraft(tx, id);
    if (draft.state !== "pending_review") throw invalidState(draft, "approved");
    checkSeen(draft, seen);
    const project = config.projects.find((p) => p.id === draft.projectId);
    const t = now();
    const sendAt = draft.deadline > t ? draft.deadline : project ? nextWindowSlot(t, project.send_window, draft.timeZone) : t;
    await transitionDraft(tx, { draftId: id, from: ["pending_review"], to: "scheduled", actor, note: "approved", set: { send_at: sendAt } });
    return (await getDraft(tx, id))!;
  });
}

export async function rejectDraft(database: Database, id: string, actor: Actor, reason?: string): Promise<DraftView> {
  return database.write(async (tx) => {
    const draft = await requireDraft(tx, id);
    if (!OPEN.includes(draft.state)) throw invalidState(draft, "rejected");
    await transitionDraft(tx, { draftId: id, from: OPEN, to: "rejected", actor, note: reason ?? "rejected", set: { reason: reason ?? "rejected" } });
    return (await getDraft(tx, id))!;
  });
}

/**
 * Moves a draft's deadline (and send time) to `at`. The state stays as it is: a draft waiting for review still
 * waits (and now expires at `at`), a scheduled one goes out at `at` — or, when `at` is outside the send window,
 * when the window next opens (the scheduler never sends outside it).
 */
export async function rescheduleDraft(database: Database, id: string, at: number, actor: Actor): Promise<DraftView> {
  if (!Number.isFinite(at)) throw ApiError.of(422, "validation_failed", "A valid time is required.", "at");
  return database.write(async (tx) => {
    const draft = await requireDraft(tx, id);
    if (!OPEN.includes(draft.state)) throw invalidState(draft, "rescheduled");
    // A draft waiting for review would expire at once: approve it instead (a scheduled one may go "now").
    if (draft.state === "pending_review" && at <= now()) {
      throw ApiError.of(422, "validation_failed", "A draft waiting for review needs a deadline in the future (approve it to send it now).", "at");
    }
    await tx.execute({ sql: "UPDATE drafts SET deadline = ?, send_at = ?, updated_at = ? WHERE id = ?", args: [at, at, now(), id] });
    await recordHistory(tx, id, draft.state, draft.state, actor, `rescheduled to ${new Date(at).toISOString()}`);
    return (await getDraft(tx, id))!;
  });
}

export type DraftEdit = { subject?: string; text?: string; html?: string };

/**
 * Replaces the content. Without `html`, new text yields new HTML derived from it. A human edit wins over a
 * pending LLM rewrite (`drafting` becomes done). The unsubscribe footer is kept.
 */
export async function editDraft(database: Database, id: string, edit: DraftEdit, actor: Actor, seen?: number): Promise<DraftView> {
  if (edit.subject !== undefined && (edit.subject.trim() === "" || edit.subject.length > 998)) {
    throw ApiError.of(422, "validation_failed", "The subject must be 1–998 characters.", "subject");
  }
  if (edit.text !== undefined && edit.text.trim() === "") throw ApiError.of(422, "validation_failed", "The text must not be empty.", "text");
  return database.write(async (tx) => {
    const draft = await requireDraft(tx, id);
    if (!OPEN.includes(draft.state)) throw invalidState(draft, "edited");
    checkSeen(draft, seen);
    const unsubscribe = /https?:\/\/\S+\/u\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}/.exec(draft.text)?.[0] ?? "";
    const text = edit.text ?? draft.text;
    const html = edit.html ?? (edit.text !== undefined ? textToHtml(text) : draft.html);
    const content = finishContent({ subject: (edit.subject ?? draft.subject).replace(/\s+/g, " ").trim(), text, html }, unsubscribe);
    const t = now();
    await tx.execute({
      sql: `UPDATE drafts SET subject = ?, text_body = ?, html_body = ?, edited_at = ?, updated_at = ?,
                   drafting = CASE WHEN drafting = 'pending' THEN 'done' ELSE drafting END
            WHERE id = ?`,
      args: [content.subject, content.text, content.html, t, t, id],
    });
    await recordHistory(tx, id, draft.state, draft.state, actor, "edited", t);
    return (await getDraft(tx, id))!;
  });
}
