import type { Row } from "@libsql/client";
import type { Config } from "../config/schema";
import type { Database } from "../db/client";
import { transitionDraft } from "../drafts/history";
import { now } from "../lib/clock";
import { log } from "../lib/log";
import { emitMailEvent, userFields } from "./events";
import { isAddressSuppressed, suppressAddress } from "./suppress";
import { classifyFailure, type Messengers } from "./transport";

/** Delay before retry N (after attempt N failed temporarily); after the last one the message fails for good. */
export const RETRY_DELAYS_MS = [60_000, 5 * 60_000, 15 * 60_000, 3_600_000, 3 * 3_600_000, 6 * 3_600_000] as const;
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

export type SenderEnv = { database: Database; config: Config; messengers: Messengers };

export type Outcome = { messageId: string; outcome: "sent" | "retry" | "failed"; detail?: string };

/**
 * After a crash, messages left `sending` were in an SMTP call whose result we never recorded. They go back to
 * the queue and are sent again with the same bytes and Message-ID (at-least-once; SPEC §9). Only a message the
 * server accepted in the instant before the crash can arrive twice, and the stable Message-ID makes that copy
 * identifiable. Claiming one message per in-flight slot keeps that set as small as the connection pool.
 */
export async function reconcileInterrupted(database: Database): Promise<number> {
  const result = await database.execute({
    sql: "UPDATE messages SET state = 'queued', next_attempt_at = ?, updated_at = ?, error = 'interrupted by a restart; sent again' WHERE state = 'sending'",
    args: [now(), now()],
  });
  if (result.rowsAffected > 0) log.warn("re-queued messages interrupted by a restart", { count: result.rowsAffected });
  return result.rowsAffected;
}

/**
 * Claims one due message and marks it `sending` in a single committed statement, before any byte goes to SMTP
 * (so a crash after this point is visible to `reconcileInterrupted`).
 */
async function claimOne(database: Database): Promise<Row | undefined> {
  const t = now();
  const rows = (
    await database.execute({
      sql: `UPDATE messages SET state = 'sending', attempts = attempts + 1, updated_at = ?
            WHERE id = (SELECT id FROM messages WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1)
            RETURNING id, project_id, draft_id, user_id, to_address, from_address, eml, transport, is_test, attempts`,
      args: [t, t],
    })
  ).rows;
  return rows[0];
}

/** Sends every due message, `concurrency` at a time; returns what happened to each. Never throws. */
export async function deliverDue(env: SenderEnv, concurrency = 5, limit = 500, keepGoing: () => boolean = () => true): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let budget = limit;
  const worker = async () => {
    // A stopping process claims nothing new but finishes the SMTP calls in flight (no restart duplicates).
    while (budget > 0 && keepGoing()) {
      budget--;
      const row = await claimOne(env.database);
      if (!row) return;
      outcomes.push(await deliverClaimed(env, row));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return outcomes;
}

async function deliverClaimed(env: SenderEnv, row: Row): Promise<Outcome> {
  const id = String(row.id);
  const project = env.config.projects.find((p) => p.id === String(row.project_id));
  const isTest = Boolean(Number(row.is_test));
  try {
    if (!project) return await recordFailure(env, row, { permanent: true, suppress: false, detail: "project no longer configured" });
    // A retry may come hours after the re-check: an unsubscribe or bounce since then still stops it.
    if (!isTest && (await isAddressSuppressed({ execute: (s) => env.database.read(s) }, project.id, String(row.to_address)))) {
      return await recordFailure(env, row, { permanent: true, suppress: false, detail: "address suppressed before sending" });
    }
    const messenger = env.messengers.forKind(String(row.transport) as "smtp" | "outbox", project);
    let response: string;
    try {
      response = (await messenger.send({ from: String(row.from_address), to: String(row.to_address), raw: String(row.eml) })).response;
    } catch (error) {
      return await recordFailure(env, row, classifyFailure(error));
    }
    await recordSent(env, row, response);
    return { messageId: id, outcome: "sent" };
  } catch (error) {
    // Recording failed (database trouble): the row stays `sending` and is reconciled on the next start.
    log.error("recording a delivery failed", { messageId: id, error });
    return { messageId: id, outcome: "retry", detail: String(error) };
  }
}

async function recordSent(env: SenderEnv, row: Row, response: string): Promise<void> {
  await env.database.write(async (tx) => {
    const t = now();
    await tx.execute({
      sql: "UPDATE messages SET state = 'sent', sent_at = ?, smtp_response = ?, error = NULL, updated_at = ? WHERE id = ?",
      args: [t, response.slice(0, 500), t, row.id],
    });
    if (row.draft_id !== null && !Number(row.is_test)) {
      await transitionDraft(tx, { draftId: String(row.draft_id), from: ["sending"], to: "sent", actor: "sender", note: response.slice(0, 200) });
    }
    if (!Number(row.is_test)) {
      const user = await userFields(tx, row.user_id === null ? null : Number(row.user_id));
      await emitMailEvent(tx, { type: "email.sent", projectId: String(row.project_id), at: t, data: { message_id: String(row.id), draft_id: row.draft_id, to: String(row.to_address), ...user } });
    }
  });
}

async function recordFailure(env: SenderEnv, row: Row, failure: { permanent: boolean; suppress: boolean; detail: string }): Promise<Outcome> {
  const id = String(row.id);
  const attempts = Number(row.attempts);
  const giveUp = failure.permanent || attempts >= MAX_ATTEMPTS;
  await env.database.write(async (tx) => {
    const t = now();
    if (!giveUp) {
      await tx.execute({
        sql: "UPDATE messages SET state = 'queued', next_attempt_at = ?, error = ?, updated_at = ? WHERE id = ?",
        args: [t + RETRY_DELAYS_MS[attempts - 1]!, failure.detail, t, id],
      });
      return;
    }
    const reason = failure.permanent ? failure.detail : `gave up after ${attempts} attempts: ${failure.detail}`;
    await tx.execute({ sql: "UPDATE messages SET state = 'failed', error = ?, updated_at = ? WHERE id = ?", args: [reason, t, id] });
    const isTest = Boolean(Number(row.is_test));
    if (row.draft_id !== null && !isTest) {
      await transitionDraft(tx, { draftId: String(row.draft_id), from: ["sending"], to: "failed", actor: "sender", note: reason.slice(0, 500), set: { reason: reason.slice(0, 500) } });
    }
    if (failure.suppress && !isTest) {
      await suppressAddress(tx, String(row.project_id), String(row.to_address), "bounced", "sender");
      const user = await userFields(tx, row.user_id === null ? null : Number(row.user_id));
      await emitMailEvent(tx, { type: "email.bounced", projectId: String(row.project_id), at: t, data: { message_id: id, draft_id: row.draft_id, to: String(row.to_address), reason: failure.detail, ...user } });
    }
  });
  return { messageId: id, outcome: giveUp ? "failed" : "retry", detail: failure.detail };
}

export type NewMessage = {
  id: string;
  projectId: string;
  draftId: string | null;
  ruleId: string | null;
  userId: number | null;
  to: string;
  from: string;
  subject: string;
  smtpMessageId: string;
  eml: string;
  transport: "smtp" | "outbox";
  isTest: boolean;
  links: string[];
};

/** Queues a composed message for its first attempt now. */
export async function insertMessage(tx: { execute: Database["execute"] }, m: NewMessage): Promise<void> {
  const t = now();
  await tx.execute({
    sql: `INSERT INTO messages (id, project_id, draft_id, rule_id, user_id, to_address, from_address, subject, smtp_message_id, eml,
                                transport, state, is_test, attempts, next_attempt_at, links, created_at, updated_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, 0, ?, ?, ?, ?)`,
    args: [m.id, m.projectId, m.draftId, m.ruleId, m.userId, m.to, m.from, m.subject, m.smtpMessageId, m.eml, m.transport, m.isTest ? 1 : 0, t, JSON.stringify(m.links), t, t],
  });
}
