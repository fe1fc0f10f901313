import type { Transaction } from "../db/client";
import type { QuarantineInsert } from "./writes";

/**
 * How other capabilities follow what the normaliser applies, without the pipeline importing them: each
 * hook runs inside the batch's transaction (so its writes commit or roll back with the batch), in a
 * savepoint — a hook that throws is logged and its own writes undone, and the batch still commits (an audience
 * bug must not stop ingestion). src/services.ts wires them.
 */

/**
 * What a batch changed for one user: `"all"` when it created the user, else the audience-visible columns of
 * `tracked_users` whose value changed (`traits` for the traits object), and the names of the events stored.
 */
export type UserChange = { fields: "all" | ReadonlySet<string>; events: ReadonlySet<string> };

/** `UserChange.events` of a user the batch stored no event for. */
export const NO_EVENTS: ReadonlySet<string> = new Set();

/** Called once per project per batch with the users whose data changed (SPEC §6: membership is refreshed). */
export type AfterApply = (tx: Transaction, projectId: string, userIds: number[], at: number, changes: ReadonlyMap<number, UserChange>) => Promise<void> | void;

/** Called with the items the batch put in quarantine (the `quarantine.added` webhook event). */
export type OnQuarantine = (tx: Transaction, items: QuarantineInsert[], at: number) => Promise<void> | void;

let afterApply: AfterApply | undefined;
let onQuarantine: OnQuarantine | undefined;

/** Registers (or, with undefined, clears) the after-apply hook — e.g. `setAfterApply(refreshMembership)`. */
export function setAfterApply(fn: AfterApply | undefined): void {
  afterApply = fn;
}

export function setOnQuarantine(fn: OnQuarantine | undefined): void {
  onQuarantine = fn;
}

export function getHooks(): { afterApply?: AfterApply; onQuarantine?: OnQuarantine } {
  return { afterApply, onQuarantine };
}
