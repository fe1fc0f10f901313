import type { Database } from "../db/client";
import { isPlainObject } from "../ingest/rules";
import { now } from "../lib/clock";
import { ApiError } from "../lib/errors";
import type { QuarantineReason, QuarantineState } from "./reasons";

/**
 * Reviewing the quarantine (SPEC §5.3), for the CLI and the dashboard: list, show, replay (optionally with an
 * edited payload) and discard. Replay puts the item back on `ingest_queue` (source `replay`) and marks it
 * `replayed` in ONE transaction: it is never both waiting in the queue and still open, nor lost in between.
 */

export type QuarantineRecord = {
  id: string;
  projectId: string;
  reason: QuarantineReason;
  detail: string;
  kind: "identify" | "track";
  source: string;
  payload: string;
  externalUserId: string | null;
  eventName: string | null;
  receivedAt: number;
  state: QuarantineState;
  createdAt: number;
  updatedAt: number;
};

export type QuarantineFilter = {
  projectId?: string;
  /** Default `open`; `all` lists every state. */
  state?: QuarantineState | "all";
  reason?: string;
  limit?: number;
  offset?: number;
};

const COLUMNS =
  "id, project_id, reason, detail, kind, source, payload, external_user_id, event_name, received_at, state, created_at, updated_at";

function toRecord(r: Record<string, unknown>): QuarantineRecord {
  return {
    id: String(r.id),
    projectId: String(r.project_id),
    reason: String(r.reason) as QuarantineReason,
    detail: String(r.detail),
    kind: String(r.kind) as "identify" | "track",
    source: String(r.source),
    payload: String(r.payload),
    externalUserId: r.external_user_id === null ? null : String(r.external_user_id),
    eventName: r.event_name === null ? null : String(r.event_name),
    receivedAt: Number(r.received_at),
    state: String(r.state) as QuarantineState,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** Newest first. `total` counts every match (for paging). */
export async function listQuarantine(database: Database, filter: QuarantineFilter = {}): Promise<{ items: QuarantineRecord[]; total: number }> {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (filter.projectId !== undefined) where.push("project_id = ?"), args.push(filter.projectId);
  const state = filter.state ?? "open";
  if (state !== "all") where.push("state = ?"), args.push(state);
  if (filter.reason !== undefined) where.push("reason = ?"), args.push(filter.reason);
  const clause = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
  const limit = Math.max(1, Math.min(filter.limit ?? 100, 10_000));
  const rs = await database.read({
    sql: `SELECT ${COLUMNS} FROM quarantine ${clause} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
    args: [...args, limit, Math.max(0, filter.offset ?? 0)],
  });
  const count = await database.read({ sql: `SELECT count(*) AS n FROM quarantine ${clause}`, args });
  return { items: rs.rows.map((r) => toRecord(r as Record<string, unknown>)), total: Number(count.rows[0]!.n) };
}

export async function showQuarantine(database: Database, id: string): Promise<QuarantineRecord | undefined> {
  const rs = await database.read({ sql: `SELECT ${COLUMNS} FROM quarantine WHERE id = ?`, args: [id] });
  return rs.rows[0] ? toRecord(rs.rows[0] as Record<string, unknown>) : undefined;
}

/** Open items per project (or in all): the dashboard's and /metrics' "quarantine size". */
export async function countQuarantine(database: Database, projectId?: string): Promise<number> {
  const rs = await database.read(
    projectId === undefined
      ? "SELECT count(*) AS n FROM quarantine WHERE state = 'open'"
      : { sql: "SELECT count(*) AS n FROM quarantine WHERE state = 'open' AND project_id = ?", args: [projectId] },
  );
  return Number(rs.rows[0]!.n);
}

function notFound(id: string): ApiError {
  return ApiError.of(404, "not_found", `No quarantined item ${id}.`);
}

/**
 * Puts an open item back through the normaliser. `editedPayload` (JSON text of an object) replaces the
 * payload for the replay; the quarantine record keeps the original. The item keeps its original `source` and
 * `received_at`: a replayed bulk or Segment event is deduped and counts as a backfill exactly as it would have on
 * its first pass, and an event without a timestamp keeps its original occurred_at. Returns the queue seq.
 */
export async function replayQuarantine(database: Database, id: string, editedPayload?: string, projectId?: string): Promise<{ id: string; seq: number }> {
  let payload: string | undefined;
  if (editedPayload !== undefined) {
    payload = editedPayload.trim();
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      throw ApiError.of(422, "validation_failed", "The edited payload is not valid JSON.", "payload");
    }
    if (!isPlainObject(parsed)) throw ApiError.of(422, "validation_failed", "The edited payload must be a JSON object.", "payload");
  }
  return database.write(async (tx) => {
    const rs = await tx.execute({ sql: "SELECT project_id, kind, source, payload, received_at, state FROM quarantine WHERE id = ?", args: [id] });
    const row = rs.rows[0];
    if (!row || (projectId !== undefined && row.project_id !== projectId)) throw notFound(id);
    if (row.state !== "open") throw ApiError.of(409, "quarantine_not_open", `Item ${id} is already ${String(row.state)}.`);
    const queued = await tx.execute({
      sql: "INSERT INTO ingest_queue (project_id, kind, source, payload, received_at) VALUES (?, ?, ?, ?, ?) RETURNING seq",
      args: [row.project_id, row.kind, row.source, payload ?? row.payload, row.received_at],
    });
    await tx.execute({ sql: "UPDATE quarantine SET state = 'replayed', updated_at = ? WHERE id = ?", args: [now(), id] });
    return { id, seq: Number(queued.rows[0]!.seq) };
  });
}

/** Marks an open item discarded; the record (and its payload) stays for reference. */
export async function discardQuarantine(database: Database, id: string, projectId?: string): Promise<void> {
  await database.write(async (tx) => {
    const rs = await tx.execute({ sql: "SELECT project_id, state FROM quarantine WHERE id = ?", args: [id] });
    const row = rs.rows[0];
    if (!row || (projectId !== undefined && row.project_id !== projectId)) throw notFound(id);
    if (row.state !== "open") throw ApiError.of(409, "quarantine_not_open", `Item ${id} is already ${String(row.state)}.`);
    await tx.execute({ sql: "UPDATE quarantine SET state = 'discarded', updated_at = ? WHERE id = ?", args: [now(), id] });
  });
}
