import type { Transaction } from "../db/client";
import { now } from "../lib/clock";
import { log } from "../lib/log";
import { getHooks, NO_EVENTS, type UserChange } from "./hooks";
import { isRejection, normalise } from "./normalise";
import { quarantineItem, type QueueRow } from "./quarantine-item";
import { UserIds } from "./user-ids";
import { ProjectApply, zero, type BatchCounts, type ProjectSettings } from "./project-apply";
import { reject, type Rejection } from "./reasons";
import { changedColumns } from "./user-state";
import { BatchWrites, flushWrites } from "./writes";

export type { BatchCounts, ProjectSettings, QueueRow };

/**
 * Applies queue rows, in `seq` order, inside the caller's transaction: users, events, buffer, quarantine,
 * derived state, then the hooks. Per-item problems become quarantine rows; a throw means the batch as a whole
 * could not be written (the caller rolls back and retries item by item).
 */
export async function applyRows(
  tx: Transaction,
  rows: QueueRow[],
  projects: ReadonlyMap<string, ProjectSettings>,
): Promise<BatchCounts> {
  const at = now();
  const w = new BatchWrites();
  const counts = zero();
  const groups = new Map<string, ProjectApply>();
  const ids = new UserIds(tx);
  const entries: { row: QueueRow; apply: ProjectApply; item: Exclude<ReturnType<typeof normalise>, Rejection> }[] = [];
  for (const row of rows) {
    const settings = projects.get(row.projectId);
    if (!settings) {
      w.quarantine.push(quarantineItem(row, reject("unknown_project", `project "${row.projectId}" is not in the configuration`)));
      counts.quarantined++;
      continue;
    }
    const item = normalise(row.kind, row.payload, row.receivedAt);
    if (isRejection(item)) {
      w.quarantine.push(quarantineItem(row, item));
      counts.quarantined++;
      continue;
    }
    let apply = groups.get(row.projectId);
    if (!apply) groups.set(row.projectId, (apply = new ProjectApply(tx, row.projectId, settings, w, ids, counts, at)));
    apply.expect(item, row.source);
    entries.push({ row, apply, item });
  }
  for (const apply of groups.values()) await apply.load();
  for (const { row, apply, item } of entries) apply.apply(item, row);
  for (const apply of groups.values()) apply.finish();
  await flushWrites(tx, w, at);
  await runHooks(tx, w, at);
  return counts;
}

async function runHooks(tx: Transaction, w: BatchWrites, at: number): Promise<void> {
  const { afterApply, onQuarantine } = getHooks();
  if (afterApply) {
    for (const [projectId, users] of w.touched) {
      const changes = new Map<number, UserChange>();
      for (const u of users) changes.set(u.id, { fields: changedColumns(u), events: u.eventNames ?? NO_EVENTS });
      await inSavepoint(tx, "after_apply", () => afterApply(tx, projectId, users.map((u) => u.id), at, changes));
    }
  }
  if (onQuarantine && w.quarantine.length > 0) await inSavepoint(tx, "on_quarantine", () => onQuarantine(tx, w.quarantine, at));
}

async function inSavepoint(tx: Transaction, name: string, work: () => Promise<void> | void): Promise<void> {
  await tx.execute(`SAVEPOINT ${name}`);
  try {
    await work();
    await tx.execute(`RELEASE ${name}`);
  } catch (error) {
    log.error("normaliser hook failed; its writes were undone, the batch goes on", { hook: name, error });
    await tx.execute(`ROLLBACK TO ${name}`);
    await tx.execute(`RELEASE ${name}`);
  }
}

