import type { Row } from "@libsql/client";
import type { Database } from "../db/client";
import type { DeliveryState } from "../db/schema/webhooks";
import { now } from "../lib/clock";
import { MAX_ATTEMPTS, RETRY_DELAYS_MS } from "./types";

/** A delivery taken for one attempt. `claimedAt` is the claim's token: only that claim may finish it. */
export type ClaimedDelivery = { id: string; projectId: string; endpointUrl: string; eventType: string; body: string; attempts: number; claimedAt: number };

/** How many attempts each endpoint may have in flight, and how many it has (by endpoint URL). */
export type EndpointShare = { perEndpoint: number; inFlight: ReadonlyMap<string, number> };

/**
 * Takes up to `limit` due deliveries for an attempt, oldest due first, no endpoint past its share. The claim
 * itself is one statement that re-checks each candidate (pending, due, not claimed), so a row is never taken
 * twice, even by a second claimer (there is one: one `serve` per database file). A claim older than `staleMs`
 * belongs to an attempt that never finished — the process died mid-POST — and is taken again: at-least-once,
 * receivers dedupe by `id`.
 */
export async function claimDue(database: Database, limit: number, staleMs: number, { perEndpoint, inFlight }: EndpointShare): Promise<ClaimedDelivery[]> {
  if (limit <= 0) return [];
  const t = now();
  const taken = new Map(inFlight);
  const full = [...taken].filter(([, k]) => k >= perEndpoint).map(([url]) => url);
  // The candidates: an index-ordered read (not a ranking of everything due, which cost 40-60 ms at 20,000 due
  // rows) that skips endpoints already at their share; each of the others gets what its share has room for.
  const candidates = await database.read({
    sql: `SELECT id, endpoint_url FROM webhook_deliveries
          WHERE state = 'pending' AND next_attempt_at <= ? AND (claimed_at IS NULL OR claimed_at <= ?)
            AND endpoint_url NOT IN (SELECT value FROM json_each(?))
          ORDER BY next_attempt_at, id LIMIT ?`,
    args: [t, t - staleMs, JSON.stringify(full), limit * 4],
  });
  const picked: string[] = [];
  for (const c of candidates.rows) {
    const url = String(c.endpoint_url);
    if ((taken.get(url) ?? 0) >= perEndpoint) continue;
    taken.set(url, (taken.get(url) ?? 0) + 1);
    picked.push(String(c.id));
    if (picked.length === limit) break;
  }
  if (picked.length === 0) return [];
  const rs = await database.execute({
    sql: `UPDATE webhook_deliveries SET claimed_at = ?, attempts = attempts + 1, last_attempt_at = ?
          WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending' AND next_attempt_at <= ? AND (claimed_at IS NULL OR claimed_at <= ?)
          RETURNING id, project_id, endpoint_url, event_type, body, attempts, claimed_at`,
    args: [t, t, JSON.stringify(picked), t, t - staleMs],
  });
  return rs.rows
    .map((r) => ({
      id: String(r.id),
      projectId: String(r.project_id),
      endpointUrl: String(r.endpoint_url),
      eventType: String(r.event_type),
      body: String(r.body),
      attempts: Number(r.attempts),
      claimedAt: Number(r.claimed_at),
    }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
}

export type AttemptResult = { ok: true; status: number } | { ok: false; status: number | null; error: string };

/** Records an attempt's result: delivered, retried after the next delay of the schedule, or dead-lettered. */
export async function finishAttempt(database: Database, d: ClaimedDelivery, result: AttemptResult, giveUp = false): Promise<DeliveryState> {
  const t = now();
  const state: DeliveryState = result.ok ? "delivered" : giveUp || d.attempts >= MAX_ATTEMPTS ? "dead" : "pending";
  const next = state === "pending" ? t + RETRY_DELAYS_MS[d.attempts - 1]! : t;
  await database.execute({
    sql: `UPDATE webhook_deliveries SET state = ?, claimed_at = NULL, next_attempt_at = ?, last_status = ?, last_error = ?,
            delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END
          WHERE id = ? AND claimed_at = ?`,
    args: [state, next, result.status, result.ok ? null : result.error.slice(0, 500), state, t, d.id, d.claimedAt],
  });
  return state;
}

/** An attempt cut short by our own shutdown: handed back untouched, as if it had never been taken. */
export async function releaseClaim(database: Database, d: ClaimedDelivery): Promise<void> {
  await database.execute({
    sql: "UPDATE webhook_deliveries SET claimed_at = NULL, attempts = attempts - 1 WHERE id = ? AND claimed_at = ?",
    args: [d.id, d.claimedAt],
  });
}

/**
 * On start: attempts a previous process left in flight (it died mid-POST) are due again now. One process
 * delivers, so every claim that exists at start-up is a dead one.
 */
export async function recoverClaims(database: Database): Promise<number> {
  const rs = await database.execute({
    sql: "UPDATE webhook_deliveries SET claimed_at = NULL, next_attempt_at = min(next_attempt_at, ?) WHERE claimed_at IS NOT NULL",
    args: [now()],
  });
  return rs.rowsAffected;
}

/**
 * Sends a dead-lettered delivery again — same id, same body — starting a fresh retry schedule (the usual reason
 * to re-send is that the endpoint has been fixed). Returns false when the delivery is unknown or not dead.
 */
export async function redeliver(database: Database, deliveryId: string, projectId?: string): Promise<boolean> {
  const rs = await database.execute({
    sql: `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, claimed_at = NULL
          WHERE id = ? AND state = 'dead' AND (? IS NULL OR project_id = ?)`,
    args: [now(), deliveryId, projectId ?? null, projectId ?? null],
  });
  return rs.rowsAffected === 1;
}

/** A delivery as the dashboard shows it (no secrets: those never reach the table). */
export type DeliveryView = {
  id: string;
  projectId: string;
  endpointUrl: string;
  eventType: string;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  lastAttemptAt: number | null;
  createdAt: number;
  deliveredAt: number | null;
  body: string;
};

/** A project's deliveries, newest first; `state: "dead"` gives the dead letters. `limit` 1–500, default 50. */
export async function listDeliveries(
  database: Database,
  projectId: string,
  options: { state?: DeliveryState; limit?: number } = {},
): Promise<DeliveryView[]> {
  const limit = Math.min(500, Math.max(1, Math.floor(options.limit ?? 50)));
  const rs = await database.read({
    sql: `SELECT * FROM webhook_deliveries WHERE project_id = ? AND (? IS NULL OR state = ?) ORDER BY created_at DESC, id DESC LIMIT ?`,
    args: [projectId, options.state ?? null, options.state ?? null, limit],
  });
  return rs.rows.map(toView);
}

/** How many deliveries a project has in each state. */
export async function countDeliveries(database: Database, projectId: string): Promise<Record<DeliveryState, number>> {
  const rs = await database.read({ sql: "SELECT state, count(*) AS n FROM webhook_deliveries WHERE project_id = ? GROUP BY state", args: [projectId] });
  const out: Record<DeliveryState, number> = { pending: 0, delivered: 0, dead: 0 };
  for (const r of rs.rows) out[String(r.state) as DeliveryState] = Number(r.n);
  return out;
}

const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function toView(r: Row): DeliveryView {
  const state = String(r.state) as DeliveryState;
  return {
    id: String(r.id),
    projectId: String(r.project_id),
    endpointUrl: String(r.endpoint_url),
    eventType: String(r.event_type),
    state,
    attempts: Number(r.attempts),
    nextAttemptAt: state === "pending" ? Number(r.next_attempt_at) : null,
    lastStatus: numOrNull(r.last_status),
    lastError: r.last_error === null ? null : String(r.last_error),
    lastAttemptAt: numOrNull(r.last_attempt_at),
    createdAt: Number(r.created_at),
    deliveredAt: numOrNull(r.delivered_at),
    body: String(r.body),
  };
}

/** Deletes delivered rows delivered before `before` (dead letters stay until re-sent). Returns how many. */
export async function purgeDelivered(database: Database, before: number): Promise<number> {
  const rs = await database.execute({ sql: "DELETE FROM webhook_deliveries WHERE state = 'delivered' AND delivered_at < ?", args: [before] });
  return rs.rowsAffected;
}
