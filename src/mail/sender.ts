import type { Row } from "@libsql/client";
import type { Config } from "../config/schema";
import type { Database, Transaction } from "../db/client";
import { transitionDraft } from "../drafts/history";
import { nextWindowSlot, type SendWindow } from "../drafts/send-window";
import { now } from "../lib/clock";
import { log } from "../lib/log";
import { emitMailEvent, userFields } from "./events";
import type { MessageView } from "./queries";
import { suppressAddress } from "./suppress";
import { classifyFailure, type FailureClass, type Messengers } from "./transport";
import { breathe } from "../lib/breathe";

/** Delay before retry N (after attempt N failed temporarily); after the last one the message fails for good. */
export const RETRY_DELAYS_MS = [60_000, 5 * 60_000, 15 * 60_000, 3_600_000, 3 * 3_600_000, 6 * 3_600_000] as const;
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

export type SenderEnv = { database: Database; config: Config; messengers: Messengers };

/** `deferred`: claimed outside the send window (a backlog, a restart) and put back, its attempt not counted. */
export type Outcome = { messageId: string; outcome: "sent" | "retry" | "failed" | "deferred"; detail?: string };

/** What a message `delivering` at a restart is recorded with: no reply was ever read for it. */
export const ASSUMED_DELIVERED = "reconciled: assumed delivered after restart";

/**
 * After a crash, a message is in one of two states, told apart by the final dot of DATA (see final-dot.ts):
 *  - `sending`: the dot never left this process, so the server discarded whatever it got. It goes back to the
 *    queue and is sent again with the same bytes and Message-ID — it cannot arrive twice.
 *  - `delivering`: committed just before the dot was released. The server had the whole message and was one
 *    loopback/LAN round trip from reading the dot, so it is recorded as sent without a reply (at-most-once
 *    for that window; re-sending instead would duplicate every one the server accepted).
 */
export async function reconcileInterrupted(database: Database): Promise<number> {
  const handedOver = (
    await database.read("SELECT id, project_id, draft_id, user_id, to_address, is_test FROM messages WHERE state = 'delivering'")
  ).rows;
  if (handedOver.length > 0) {
    await database.write(async (tx) => {
      for (const row of handedOver) await applySent(tx, row, ASSUMED_DELIVERED);
    });
    log.warn("recorded messages handed over before a restart as sent", { count: handedOver.length });
  }
  const result = await database.execute({
    // The claim counted an attempt that never finished: not counted (as `releaseUnstarted` does), or every crash
    // would use up a retry of each claimed message, and push its next retry later.
    sql: "UPDATE messages SET state = 'queued', attempts = max(attempts - 1, 0), next_attempt_at = ?, updated_at = ?, error = 'interrupted by a restart before the final dot; sent again' WHERE state = 'sending'",
    args: [now(), now()],
  });
  if (result.rowsAffected > 0) log.warn("re-queued messages interrupted by a restart", { count: result.rowsAffected });
  return result.rowsAffected + handedOver.length;
}

/**
 * Commits `delivering` — alone, before the final dot goes out — so a crash from here on is reconciled as
 * delivered rather than sent again, then releases the dot *while still holding the write lock*. Released after
 * the lock instead, the dot waited behind the commits queued for it (the other connections' handovers, the
 * results: an fsync each), and a crash in those milliseconds lost a message recorded as delivered (an external
 * audit: 1 message in ~9 kill -9s during a 300-email burst). A row no longer `sending` (another process
 * reconciled it) stops the dot.
 */
function handOver(database: Database, id: string, releaseDot: () => Promise<void>): Promise<void> {
  return database.exclusive(async (client) => {
    // Committed without its own fsync (the next commit's covers it): a kill -9 keeps it all the same, since the
    // WAL write is in the kernel. With the fsync, the process came back from a blocking call into the CPU's
    // queue right after the commit was durable; on a busy machine it waited there milliseconds before the dot
    // went out, and a kill in that wait lost the message (an outside hunt: 3 of 46 messages `delivering` at a
    // kill). A power cut before the next fsync loses `delivering` instead: the message is sent again, a
    // duplicate rather than a loss.
    const relax = database.synchronous === "full" && database.url.startsWith("file:");
    if (relax) await client.execute("PRAGMA synchronous = NORMAL");
    try {
      const result = await client.execute({
        sql: "UPDATE messages SET state = 'delivering', updated_at = ? WHERE id = ? AND state = 'sending'",
        args: [now(), id],
      });
      if (result.rowsAffected !== 1) throw new Error(`message ${id} is no longer sending; final dot withheld`);
      await releaseDot();
    } finally {
      if (relax) await client.execute("PRAGMA synchronous = FULL");
    }
  });
}

/** How many due messages one claim marks `sending` (one commit). A crash re-queues those not yet `delivering`. */
const CLAIM_BATCH = 50;

/**
 * Claims due messages and marks them `sending` in a single committed statement, before any byte goes to SMTP
 * (so a crash after this point is visible to `reconcileInterrupted`).
 */
async function claimBatch(database: Database, n: number): Promise<Row[]> {
  const t = now();
  return (
    await database.execute({
      sql: `UPDATE messages SET state = 'sending', attempts = attempts + 1, updated_at = ?
            WHERE id IN (SELECT id FROM messages WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?)
            RETURNING id, project_id, draft_id, user_id, to_address, from_address, eml, transport, is_test, attempts, next_attempt_at`,
      args: [t, t, n],
    })
  ).rows.sort((a, b) => Number(a.next_attempt_at) - Number(b.next_attempt_at) || String(a.id).localeCompare(String(b.id)));
}

/** Claimed messages a stopping process never handed to SMTP go back to the queue, their attempt not counted. */
async function releaseUnstarted(database: Database, rows: Row[]): Promise<void> {
  await database.execute({
    sql: `UPDATE messages SET state = 'queued', attempts = attempts - 1 WHERE state = 'sending' AND id IN (${rows.map(() => "?").join(",")})`,
    args: rows.map((r) => String(r.id)),
  });
}

/** Sends every due message, `concurrency` SMTP calls at a time; returns what happened to each. Never throws. */
export async function deliverDue(env: SenderEnv, concurrency = 5, limit = 500, keepGoing: () => boolean = () => true): Promise<Outcome[]> {
  const outcomes: Promise<Outcome>[] = [];
  const recorder = new Recorder(env);
  let budget = limit;
  // A stopping process claims nothing new but finishes (and records) the calls in flight: no restart duplicates.
  while (budget > 0 && keepGoing()) {
    const rows = await claimBatch(env.database, Math.min(budget, CLAIM_BATCH));
    if (rows.length === 0) break;
    budget -= rows.length;
    let next = 0;
    const worker = async () => {
      while (next < rows.length) {
        if (!keepGoing()) return;
        await breathe();
        if (next >= rows.length || !keepGoing()) return;
        const row = rows[next++]!;
        const { recorded } = await deliverClaimed(env, row, recorder);
        outcomes.push(recorded);
        // An SMTP worker starts its next call only once this result is committed (shared with the other
        // workers' results), so at most one message per connection waits in `delivering` for its result.
        if (String(row.transport) === "smtp") await recorded;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, rows.length)) }, worker));
    if (next < rows.length) await releaseUnstarted(env.database, rows.slice(next));
  }
  return Promise.all(outcomes);
}

/** Makes the call; resolves once it is done, with the promise of its recording (a wrapper, so it is not awaited). */
async function deliverClaimed(env: SenderEnv, row: Row, recorder: Recorder): Promise<{ recorded: Promise<Outcome> }> {
  const project = env.config.projects.find((p) => p.id === String(row.project_id));
  const isTest = Boolean(Number(row.is_test));
  if (!project) return { recorded: recorder.record({ row, failure: { permanent: true, suppress: false, detail: "project no longer configured" } }) };
  let handedOver = false;
  let window: SendWindowOf | undefined; // none for a test send or a message without a draft
  try {
    // A retry may come hours after the scheduler's re-check: a pause, unsubscribe or bounce since then still
    // stops it, and the draft ends `cancelled` with the reason, as one stopped before its first attempt would.
    const check = isTest ? {} : await preSendCheck(env, project.id, row);
    if (check.stop) return { recorded: recorder.record({ row, failure: { permanent: true, suppress: false, cancel: true, detail: check.stop } }) };
    if (check.timeZone !== undefined) window = { sendWindow: project.send_window, timeZone: check.timeZone };
    // Due inside the window but reached after it closed (a backlog, a restart): not now, at its next opening.
    const t = now();
    const allowed = inWindow(t, window);
    if (allowed > t) return { recorded: putBack(env.database, row, allowed) };
    const messenger = env.messengers.forKind(String(row.transport) as "smtp" | "outbox", project);
    const beforeFinalDot = (releaseDot: () => Promise<void>) =>
      handOver(env.database, String(row.id), () => ((handedOver = true), releaseDot()));
    const { response } = await messenger.send({ from: String(row.from_address), to: String(row.to_address), raw: String(row.eml), beforeFinalDot });
    return { recorded: recorder.record({ row, response }) };
  } catch (error) {
    // The dot went out but the connection died before any reply: the same case as a crash in `delivering`.
    if (handedOver && typeof (error as { responseCode?: unknown }).responseCode !== "number") {
      return { recorded: recorder.record({ row, response: `assumed delivered: no reply after the final dot (${String((error as Error).message ?? error).slice(0, 200)})` }) };
    }
    return { recorded: recorder.record({ row, failure: classifyFailure(error), window }) };
  }
}

/**
 * Before each attempt, one read (the sender's hot path): why the message must not go out any more (`stop`), and
 * the time zone of its draft's send window (none for a message without a draft).
 */
async function preSendCheck(env: SenderEnv, projectId: string, row: Row): Promise<{ stop?: string; timeZone?: string }> {
  const r = (
    await env.database.read({
      sql: `SELECT EXISTS (SELECT 1 FROM suppressions WHERE project_id = ? AND email = ?) AS listed, u.paused, u.suppressed,
                   (SELECT time_zone FROM drafts WHERE id = ?) AS time_zone
            FROM (SELECT 1) LEFT JOIN tracked_users u ON u.id = ?`,
      args: [projectId, String(row.to_address).toLowerCase(), row.draft_id, row.user_id],
    })
  ).rows[0]!;
  const timeZone = r.time_zone === null ? undefined : String(r.time_zone);
  if (Number(r.listed)) return { stop: "the address is suppressed" };
  if (Number(r.paused)) return { stop: "the user is paused" };
  if (Number(r.suppressed)) return { stop: "the user is suppressed" };
  return { timeZone };
}

/** A claimed message back to the queue until `at`, the claim's attempt not counted (nothing was sent). */
async function putBack(database: Database, row: Row, at: number): Promise<Outcome> {
  await database.execute({
    sql: "UPDATE messages SET state = 'queued', attempts = attempts - 1, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'sending'",
    args: [at, now(), String(row.id)],
  });
  return { messageId: String(row.id), outcome: "deferred", detail: `outside the send window: next opening ${new Date(at).toISOString()}` };
}

/** The send window a message must go in: the project's, in the draft's time zone (a test send has none). */
type SendWindowOf = { sendWindow: SendWindow; timeZone: string };
type Result = { row: Row; response: string; failure?: undefined } | { row: Row; failure: FailureClass; response?: undefined; window?: SendWindowOf };

/**
 * Group commit for delivery results: whatever finished while the previous commit was on disk goes into the
 * next one. Results are recorded within about one commit of the SMTP reply, at a fraction of the fsyncs.
 */
class Recorder {
  private pending: { result: Result; resolve: (o: Outcome) => void }[] = [];
  private flushing = false;

  constructor(private readonly env: SenderEnv) {}

  record(result: Result): Promise<Outcome> {
    return new Promise((resolve) => {
      this.pending.push({ result, resolve });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        try {
          const outcomes = await this.env.database.write(async (tx) => {
            const out: Outcome[] = [];
            for (const p of batch) out.push(await applyResult(tx, p.result));
            return out;
          });
          batch.forEach((p, i) => p.resolve(outcomes[i]!));
        } catch (error) {
          // One bad row must not lose the others' results: record them one by one.
          for (const p of batch) p.resolve(await this.recordAlone(p.result, error));
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async recordAlone(result: Result, batchError: unknown): Promise<Outcome> {
    try {
      return await this.env.database.write((tx) => applyResult(tx, result));
    } catch (error) {
      // The row stays `sending` and is reconciled on the next start.
      log.error("recording a delivery failed", { messageId: String(result.row.id), error, batchError });
      return { messageId: String(result.row.id), outcome: "retry", detail: String(error) };
    }
  }
}

async function applyResult(tx: Transaction, result: Result): Promise<Outcome> {
  return result.failure ? applyFailure(tx, result.row, result.failure, result.window) : applySent(tx, result.row, result.response!);
}

/**
 * The first moment from `at` a draft's message may go: `at` itself, or the next opening of the project's send
 * window in the draft's time zone. For an attempt and for a retry's time alike: a retry schedule of minutes to
 * hours, or a backlog, would otherwise send at 3 a.m.
 */
function inWindow(at: number, window: SendWindowOf | undefined): number {
  return window ? nextWindowSlot(at, window.sendWindow, window.timeZone) : at; // `at` itself when inside
}

async function applySent(tx: Transaction, row: Row, response: string): Promise<Outcome> {
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
  return { messageId: String(row.id), outcome: "sent" };
}

async function applyFailure(tx: Transaction, row: Row, failure: FailureClass, window?: SendWindowOf): Promise<Outcome> {
  const id = String(row.id);
  const attempts = Number(row.attempts);
  const giveUp = failure.permanent || attempts >= MAX_ATTEMPTS;
  const t = now();
  if (!giveUp) {
    await tx.execute({
      sql: "UPDATE messages SET state = 'queued', next_attempt_at = ?, error = ?, updated_at = ? WHERE id = ?",
      args: [inWindow(t + RETRY_DELAYS_MS[attempts - 1]!, window), failure.detail, t, id],
    });
    return { messageId: id, outcome: "retry", detail: failure.detail };
  }
  const reason = failure.cancel ? `cancelled before sending: ${failure.detail}` : failure.permanent ? failure.detail : `gave up after ${attempts} attempts: ${failure.detail}`;
  await tx.execute({ sql: "UPDATE messages SET state = 'failed', error = ?, updated_at = ? WHERE id = ?", args: [reason, t, id] });
  const isTest = Boolean(Number(row.is_test));
  if (row.draft_id !== null && !isTest) {
    const to = failure.cancel ? "cancelled" : "failed";
    const note = failure.cancel ? failure.detail : reason;
    await transitionDraft(tx, { draftId: String(row.draft_id), from: ["sending"], to, actor: "sender", note: note.slice(0, 500), set: { reason: note.slice(0, 500) } });
  }
  if (failure.suppress && !isTest) {
    await suppressAddress(tx, String(row.project_id), String(row.to_address), "bounced", "sender");
    const user = await userFields(tx, row.user_id === null ? null : Number(row.user_id));
    await emitMailEvent(tx, { type: "email.bounced", projectId: String(row.project_id), at: t, data: { message_id: id, draft_id: row.draft_id, to: String(row.to_address), reason: failure.detail, ...user } });
  }
  return { messageId: id, outcome: "failed", detail: failure.detail };
}

/** A message to queue: what the dashboard later shows of it (queries.ts), plus its .eml and tracked links. */
export type NewMessage = Pick<
  MessageView,
  "id" | "projectId" | "draftId" | "ruleId" | "userId" | "to" | "from" | "subject" | "smtpMessageId" | "transport" | "isTest"
> & { eml: string; links: string[] };

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
