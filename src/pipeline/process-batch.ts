import type { Database, Transaction } from "../db/client";
import { log } from "../lib/log";
import { applyRows, type BatchCounts, type ProjectSettings, type QueueRow } from "./batch";
import { zero } from "./project-apply";
import { quarantineItem } from "./quarantine-item";
import { reject } from "./reasons";
import { insertQuarantine } from "./writes";
import { now } from "../lib/clock";

/**
 * One step of the normaliser: take the oldest queued items and apply them in ONE transaction that also
 * deletes them from the queue. A crash before the commit leaves queue and tables as they were (the batch is
 * simply taken again); after it, the items are gone from the queue and applied exactly once.
 */

async function claim(tx: Transaction, limit: number): Promise<QueueRow[]> {
  // One JSON text for the whole batch: far cheaper than libSQL building a row object per item.
  const rs = await tx.execute({
    sql: "SELECT json_group_array(json_array(seq, project_id, kind, source, payload, received_at)) AS j FROM (SELECT * FROM ingest_queue ORDER BY seq LIMIT ?)",
    args: [limit],
  });
  const list = JSON.parse(String(rs.rows[0]?.j ?? "[]")) as [number, string, string, string, string, number][];
  const rows = list.map(([seq, projectId, kind, source, payload, receivedAt]) => ({ seq, projectId, kind, source, payload, receivedAt }));
  return rows.sort((a, b) => a.seq - b.seq);
}

/** Deletes exactly the claimed rows: they are the lowest seqs, and no one else deletes queue rows. */
async function release(tx: Transaction, rows: QueueRow[]): Promise<void> {
  const rs = await tx.execute({
    sql: "DELETE FROM ingest_queue WHERE seq >= ? AND seq <= ?",
    args: [rows[0]!.seq, rows[rows.length - 1]!.seq],
  });
  if (rs.rowsAffected !== rows.length) throw new Error(`queue changed under the normaliser: ${rs.rowsAffected} rows for ${rows.length}`);
}

/**
 * Errors of the database itself (locked, disk full, closed, schema missing): retry later rather than blame an
 * item — quarantining every item as `apply_failed` because a table is missing would be the wrong answer.
 */
export function isStorageError(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  const text = `${String(e?.code ?? "")} ${String(e?.message ?? "")}`;
  return /SQLITE_(BUSY|LOCKED|IOERR|FULL|READONLY|CANTOPEN|CORRUPT|NOMEM|NOTADB|PROTOCOL|SCHEMA)|no such (table|column)|closed|CLIENT_CLOSED|TRANSACTION_CLOSED/i.test(text);
}

/** `contended`: another write waited for the lock while this batch held it (the catch-up then stops growing). */
export type StepResult = { taken: number; counts: BatchCounts; contended?: boolean };

/** An idle poll asks the read connection, so an empty queue never takes the write lock from ingest. */
export async function queueIsEmpty(database: Database): Promise<boolean> {
  return (await database.read("SELECT 1 FROM ingest_queue LIMIT 1")).rows.length === 0;
}

async function applyStep(database: Database, settings: ReadonlyMap<string, ProjectSettings>, limit: number): Promise<StepResult> {
  return database.write(async (tx) => {
    const rows = await claim(tx, limit);
    if (rows.length === 0) return { taken: 0, counts: zero() };
    const counts = await applyRows(tx, rows, settings);
    await release(tx, rows);
    return { taken: rows.length, counts, contended: database.writersWaiting > 0 };
  });
}

/**
 * Applies up to `limit` items. When the batch as a whole fails (the database refused some value), it is
 * rolled back and its items are applied one by one, so that only the item at fault goes to quarantine
 * (`apply_failed`) and the rest goes through. Storage errors are thrown: the loop backs off and retries.
 */
export async function processBatch(database: Database, settings: ReadonlyMap<string, ProjectSettings>, limit: number): Promise<StepResult> {
  if (await queueIsEmpty(database)) return { taken: 0, counts: zero() };
  try {
    return await applyStep(database, settings, limit);
  } catch (error) {
    if (isStorageError(error) || limit === 1) {
      if (!isStorageError(error)) return quarantineHead(database, error);
      throw error;
    }
    log.warn("normaliser batch failed; applying its items one by one", { error });
  }
  const total: StepResult = { taken: 0, counts: zero() };
  for (let i = 0; i < limit; i++) {
    const step = await processBatch(database, settings, 1);
    if (step.taken === 0) break;
    total.taken += step.taken;
    for (const k of Object.keys(total.counts) as (keyof BatchCounts)[]) total.counts[k] += step.counts[k];
  }
  return total;
}

/** The oldest item cannot be applied: it goes to quarantine, verbatim, and leaves the queue. */
async function quarantineHead(database: Database, error: unknown): Promise<StepResult> {
  log.error("normaliser could not apply an item; quarantined as apply_failed", { error });
  return database.write(async (tx) => {
    const rows = await claim(tx, 1);
    if (rows.length === 0) return { taken: 0, counts: zero() };
    const detail = error instanceof Error ? error.message : String(error);
    await insertQuarantine(tx, [quarantineItem(rows[0]!, reject("apply_failed", detail))], now());
    await release(tx, rows);
    return { taken: 1, counts: { ...zero(), quarantined: 1 } };
  });
}
