import type { InValue } from "@libsql/client";
import type { DraftState } from "../db/schema/drafts";
import { now } from "../lib/clock";
import type { Executor } from "../mail/tokens";
import type { Actor } from "./types";

export type Transition = {
  draftId: string;
  from: readonly DraftState[];
  to: DraftState;
  actor: Actor;
  note?: string | null;
  /** Extra columns to set in the same UPDATE. */
  set?: Record<string, InValue>;
};

/**
 * Moves a draft from one of `from` to `to` with a compare-and-set UPDATE, and records the change with time and
 * actor. Returns the previous state, or undefined when the draft was not in an allowed state (someone else
 * moved it first — the caller decides whether that is an error).
 */
export async function transitionDraft(exec: Executor, t: Transition): Promise<DraftState | undefined> {
  const at = now();
  const extra = Object.entries(t.set ?? {});
  const previous = (
    await exec.execute({
      sql: `SELECT state FROM drafts WHERE id = ? AND state IN (${t.from.map(() => "?").join(", ")})`,
      args: [t.draftId, ...t.from],
    })
  ).rows[0];
  if (!previous) return undefined;
  const result = await exec.execute({
    sql: `UPDATE drafts SET state = ?, updated_at = ?${extra.map(([k]) => `, ${k} = ?`).join("")}
          WHERE id = ? AND state = ?`,
    args: [t.to, at, ...extra.map(([, v]) => v), t.draftId, previous.state as string],
  });
  if (result.rowsAffected === 0) return undefined;
  await recordHistory(exec, t.draftId, previous.state as DraftState, t.to, t.actor, t.note ?? null, at);
  return previous.state as DraftState;
}

export async function recordHistory(
  exec: Executor,
  draftId: string,
  from: DraftState | null,
  to: DraftState,
  actor: Actor,
  note: string | null,
  at = now(),
): Promise<void> {
  await exec.execute({
    sql: "INSERT INTO draft_history (draft_id, from_state, to_state, actor, note, at) VALUES (?, ?, ?, ?, ?, ?)",
    args: [draftId, from, to, actor, note, at],
  });
}
