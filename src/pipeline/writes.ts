import type { Transaction } from "../db/client";
import { JSON_ROWS, jsonColumns } from "../db/json-rows";
import type { QuarantineReason } from "./reasons";
import type { StageChange } from "./stages";
import { USER_COLUMNS, userToHotRow, userToRow, type UserState } from "./user-state";

/**
 * Everything one batch writes, collected in memory and flushed with a handful of statements. Each statement
 * takes its rows as one JSON array (src/db/json-rows.ts), so a batch of 1,000 items costs ~10 statements instead of
 * thousands of round trips — and the SQL text never changes, so the write thread's connection keeps it
 * prepared (src/db/cached-client.ts).
 */
export type QuarantineInsert = {
  id: string;
  projectId: string;
  reason: QuarantineReason;
  detail: string;
  kind: string;
  source: string;
  payload: string;
  externalUserId: string | null;
  eventName: string | null;
  receivedAt: number;
};

export class BatchWrites {
  readonly events: unknown[][] = [];
  readonly bufferInserts: unknown[][] = [];
  readonly bufferDeletes: number[] = [];
  readonly history: unknown[][] = [];
  readonly features = new Map<string, [number, string, string, number, number, number]>();
  readonly steps = new Map<string, [number, string, string, number, number, number]>();
  readonly quarantine: QuarantineInsert[] = [];
  /** The users whose data changed, per project, in the order they were first changed: written back by
   * `flushWrites`, handed to the after-apply hook (audience membership). */
  readonly touched = new Map<string, UserState[]>();

  /** Marks `u` as changed by this batch. Called for every item; the flag on the user makes repeats free. */
  touch(u: UserState): void {
    if (u.touched) return;
    u.touched = true;
    let list = this.touched.get(u.projectId);
    if (!list) this.touched.set(u.projectId, (list = []));
    list.push(u);
  }

  addStage(projectId: string, c: StageChange): void {
    this.history.push([projectId, c.userId, c.from, c.to, c.at]);
  }

  addFeature(projectId: string, userId: number, feature: string, count: number, at: number): void {
    const key = `${userId}\u0000${feature}`;
    const row = this.features.get(key);
    if (!row) this.features.set(key, [userId, feature, projectId, count, at, at]);
    else {
      row[3] += count;
      row[4] = Math.min(row[4], at);
      row[5] = Math.max(row[5], at);
    }
  }

  addStep(projectId: string, userId: number, step: string, completed: boolean, at: number): void {
    const key = `${userId}\u0000${step}`;
    const row = this.steps.get(key);
    if (!row) this.steps.set(key, [userId, step, projectId, completed ? 1 : 0, at, at]);
    else {
      row[3] = Math.max(row[3], completed ? 1 : 0);
      row[4] = Math.min(row[4], at);
      row[5] = Math.max(row[5], at);
    }
  }
}

const UPDATABLE = USER_COLUMNS.filter((c) => c !== "id" && c !== "project_id" && c !== "external_user_id" && c !== "created_at");

const SQL = {
  users:
    `${JSON_ROWS} INSERT INTO tracked_users (${USER_COLUMNS.join(", ")}) SELECT ${jsonColumns(USER_COLUMNS.length)} FROM r WHERE true ` +
    `ON CONFLICT(id) DO UPDATE SET ${UPDATABLE.map((c) => `${c} = excluded.${c}`).join(", ")}`,
  usersHot:
    `${JSON_ROWS} UPDATE tracked_users SET first_seen_at = r.v ->> 1, last_seen_at = r.v ->> 2, event_count = r.v ->> 3, updated_at = r.v ->> 4 ` +
    "FROM r WHERE tracked_users.id = r.v ->> 0",
  // The verbatim payload is copied from its queue row (same transaction, deleted after) or buffer row. The
  // properties travel as an object inside the row and `->` renders them back as JSON.stringify wrote them (the
  // row is JSONB, which keeps numbers' and strings' text): no second serialisation, no escaped copy per event.
  events:
    `${JSON_ROWS} INSERT INTO events (project_id, user_id, name, occurred_at, received_at, properties, payload) SELECT ${jsonColumns(5)}, r.v -> 5, coalesce(q.payload, b.payload) ` +
    "FROM r LEFT JOIN ingest_queue q ON q.seq = r.v ->> 6 LEFT JOIN event_buffer b ON b.id = r.v ->> 7",
  bufferInsert:
    `${JSON_ROWS} INSERT INTO event_buffer (project_id, external_user_id, source, payload, received_at) ` +
    "SELECT r.v ->> 0, r.v ->> 1, r.v ->> 2, q.payload, r.v ->> 4 FROM r JOIN ingest_queue q ON q.seq = r.v ->> 3",
  bufferDelete: `DELETE FROM event_buffer WHERE id IN (SELECT value FROM json_each(?))`,
  history: `${JSON_ROWS} INSERT INTO stage_history (project_id, user_id, from_stage, to_stage, at) SELECT ${jsonColumns(5)} FROM r`,
  features:
    `${JSON_ROWS} INSERT INTO feature_usage (user_id, feature, project_id, count, first_at, last_at) SELECT ${jsonColumns(6)} FROM r WHERE true ` +
    `ON CONFLICT(user_id, feature) DO UPDATE SET count = count + excluded.count, first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)`,
  steps:
    `${JSON_ROWS} INSERT INTO onboarding_steps (user_id, step, project_id, completed, first_at, last_at) SELECT ${jsonColumns(6)} FROM r WHERE true ` +
    `ON CONFLICT(user_id, step) DO UPDATE SET completed = max(completed, excluded.completed), first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)`,
  quarantine:
    `${JSON_ROWS} INSERT INTO quarantine (id, project_id, reason, detail, kind, source, payload, external_user_id, event_name, received_at, state, created_at, updated_at) ` +
    `SELECT ${jsonColumns(10)}, 'open', r.v ->> 10, r.v ->> 10 FROM r`,
} as const;

async function run(tx: Transaction, sql: string, rows: unknown[]): Promise<void> {
  if (rows.length > 0) await tx.execute({ sql, args: [JSON.stringify(rows)] });
}

export function quarantineRow(q: QuarantineInsert, at: number): unknown[] {
  return [q.id, q.projectId, q.reason, q.detail, q.kind, q.source, q.payload, q.externalUserId, q.eventName, q.receivedAt, at];
}

export async function insertQuarantine(tx: Transaction, items: QuarantineInsert[], at: number): Promise<void> {
  await run(tx, SQL.quarantine, items.map((q) => quarantineRow(q, at)));
}

/** Writes the collected rows. Users first: events and history refer to ids assigned in memory. */
export async function flushWrites(tx: Transaction, w: BatchWrites, at: number): Promise<void> {
  const full: unknown[][] = [];
  const hot: unknown[][] = [];
  for (const users of w.touched.values()) {
    for (const u of users) {
      if (u.full) full.push(userToRow(u));
      else if (u.dirty) hot.push(userToHotRow(u));
    }
  }
  await run(tx, SQL.users, full);
  await run(tx, SQL.usersHot, hot);
  await run(tx, SQL.events, w.events);
  await run(tx, SQL.bufferDelete, w.bufferDeletes);
  await run(tx, SQL.bufferInsert, w.bufferInserts);
  await run(tx, SQL.history, w.history);
  await run(tx, SQL.features, [...w.features.values()]);
  await run(tx, SQL.steps, [...w.steps.values()]);
  await insertQuarantine(tx, w.quarantine, at);
}
