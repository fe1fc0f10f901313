import type { InStatement } from "@libsql/client";
import type { Config, ProjectConfig } from "../config/schema";
import type { Database, Transaction } from "../db/client";
import { now } from "../lib/clock";
import { ApiError } from "../lib/errors";
import { newId } from "../lib/ids";
import { log } from "../lib/log";
import { composeMessage, type Composed } from "../mail/compose";
import { insertMessage } from "../mail/sender";
import { isAddressSuppressed } from "../mail/suppress";
import { loadLinkSecret, publicBase, unsubscribeToken } from "../mail/tokens";
import { smtpFor } from "../mail/transport";
import { nextAllowedSend } from "./caps";
import { loadUser } from "./context";
import { recordHistory, transitionDraft } from "./history";
import { getDraft, toDraftView, type DraftView } from "./queries";
import type { Actor } from "./types";
import { checkRuleStillHolds, lookupRule } from "./rules-link";
import { insideWindow, nextWindowSlot } from "./send-window";
import { breathe } from "../lib/breathe";
import { mapConcurrently } from "../lib/concurrency";

export type SchedulerEnv = { database: Database; config: Config };

/** Drafts still waiting for review at their deadline expire and are never sent (SPEC §8). */
export async function expireDue(database: Database): Promise<number> {
  const t = now();
  return database.write(async (tx) => {
    const rows = (await tx.execute({ sql: "SELECT id FROM drafts WHERE state = 'pending_review' AND deadline <= ? LIMIT 1000", args: [t] })).rows;
    let n = 0;
    for (const r of rows) {
      const moved = await transitionDraft(tx, { draftId: String(r.id), from: ["pending_review"], to: "expired", actor: "system", note: "not approved by its deadline", set: { reason: "not approved by its deadline" } });
      if (moved) n++;
    }
    return n;
  });
}

export type DispatchSummary = { queued: number; cancelled: number; deferred: number };

/**
 * Scheduled drafts whose time has come: re-checked (user, suppression, rule, send window, frequency cap,
 * throttle), then turned into a queued message in the same transaction that marks the draft `sending`.
 * Drafts whose LLM rewrite is still pending wait for it.
 *
 * The slow parts — the rules engine's re-check and composing the .eml — run first, concurrently and outside
 * any transaction (on the read connection); each write transaction then re-checks what may have changed
 * meanwhile and uses the prepared message only if the draft and address are still the same.
 */
export async function dispatchDue(env: SchedulerEnv, limit = 200): Promise<DispatchSummary> {
  const t = now();
  const summary: DispatchSummary = { queued: 0, cancelled: 0, deferred: 0 };
  const due = (
    await env.database.read({
      sql: `SELECT d.*, NULL AS external_user_id, NULL AS email FROM drafts d
            WHERE d.state = 'scheduled' AND d.send_at <= ? AND (d.drafting IS NULL OR d.drafting != 'pending')
            ORDER BY d.send_at, d.id LIMIT ?`,
      args: [t, limit],
    })
  ).rows.map(toDraftView);
  if (due.length === 0) return summary;
  const secret = await loadLinkSecret(env.database);
  const prepared = await mapConcurrently(due, 16, async (draft) => {
    await breathe();
    return prepare(env, draft, t, secret).catch((error) => {
      log.error("preparing a draft failed", { draftId: draft.id, error });
      return undefined;
    });
  });
  // One transaction (one fsync) for the page; each draft in a savepoint, so one bad draft stops nothing: it stays
  // scheduled and is tried again next tick.
  const counts = await env.database.write(async (tx) => {
    const c: DispatchSummary = { queued: 0, cancelled: 0, deferred: 0 };
    for (const p of prepared) {
      if (!p) continue;
      await breathe();
      await tx.execute("SAVEPOINT dispatch_draft");
      try {
        c[await commitOne(tx, env, p, t, secret)]++;
        await tx.execute("RELEASE dispatch_draft");
      } catch (error) {
        await tx.execute("ROLLBACK TO dispatch_draft");
        await tx.execute("RELEASE dispatch_draft");
        log.error("dispatching a draft failed", { draftId: p.draft.id, error });
      }
    }
    return c;
  });
  return { ...summary, ...counts };
}

type Prepared = { draft: DraftView; holds: boolean; message?: PreparedMessage };
type PreparedMessage = { id: string; to: string; composed: Composed };

async function prepare(env: SchedulerEnv, draft: DraftView, t: number, secret: string): Promise<Prepared> {
  const project = env.config.projects.find((p) => p.id === draft.projectId);
  const rule = project && lookupRule(project, draft.ruleId);
  const holds = project && rule ? await checkRuleStillHolds(env.database, project, draft.ruleId, draft.userId, draft.occasion) : false;
  if (!project || !rule || !holds || !insideWindow(t, project.send_window, draft.timeZone)) return { draft, holds };
  const reader = { execute: (s: InStatement) => env.database.read(s) };
  const user = await loadUser(reader, draft.userId);
  // Composing is wasted on a draft the caps will defer: look first (the transaction decides for real).
  if (!user?.email || (await nextAllowedSend(reader, project, rule.id, rule.throttle, user.id, t))) return { draft, holds };
  const id = newId("msg");
  return { draft, holds, message: { id, to: user.email, composed: await composeFor(env.config, project, draft, user.email, id, secret) } };
}

async function commitOne(tx: Transaction, env: SchedulerEnv, p: Prepared, t: number, secret: string): Promise<keyof DispatchSummary> {
  const { draft, holds } = p;
  const project = env.config.projects.find((x) => x.id === draft.projectId);
  const rule = project && lookupRule(project, draft.ruleId);
  const outcome: Outcome = await (async () => {
    const current = await getDraft(tx, draft.id);
    if (!current || current.state !== "scheduled" || current.sendAt > t) return "skipped"; // moved meanwhile
    if (!project || !rule) return cancel(tx, draft.id, project ? "the rule no longer exists" : "the project no longer exists");
    const user = await loadUser(tx, draft.userId);
    if (!user) return cancel(tx, draft.id, "the user no longer exists");
    if (!user.email) return cancel(tx, draft.id, "the user has no email address");
    if (user.suppressed) return cancel(tx, draft.id, "the user is suppressed");
    if (user.paused) return cancel(tx, draft.id, "the user is paused");
    if (await isAddressSuppressed(tx, project.id, user.email)) return cancel(tx, draft.id, "the address is suppressed");
    if (!holds) return cancel(tx, draft.id, "the rule's condition no longer holds");
    if (!insideWindow(t, project.send_window, current.timeZone)) {
      return defer(tx, current, nextWindowSlot(t, project.send_window, current.timeZone), "outside the send window");
    }
    const limit = await nextAllowedSend(tx, project, rule.id, rule.throttle, user.id, t);
    if (limit) return defer(tx, current, nextWindowSlot(limit.at, project.send_window, current.timeZone), limit.why);
    // An edit or a new address since `prepare`: compose again, here.
    const fresh = p.message && p.message.to === user.email && current.updatedAt === draft.updatedAt ? p.message : undefined;
    const id = fresh?.id ?? newId("msg");
    const composed = fresh?.composed ?? (await composeFor(env.config, project, current, user.email, id, secret));
    await queueDraftMessage(tx, env.config, project, current, user.email, id, composed);
    return "queued" as const;
  })();
  return outcome === "skipped" ? "deferred" : outcome;
}

type Outcome = keyof DispatchSummary | "skipped";

async function cancel(tx: Transaction, draftId: string, reason: string): Promise<"cancelled"> {
  await transitionDraft(tx, { draftId, from: ["scheduled"], to: "cancelled", actor: "system", note: reason, set: { reason } });
  return "cancelled";
}

async function defer(tx: Transaction, draft: DraftView, at: number, why: string): Promise<"deferred"> {
  await tx.execute({ sql: "UPDATE drafts SET send_at = ?, updated_at = ? WHERE id = ?", args: [at, now(), draft.id] });
  await recordHistory(tx, draft.id, draft.state, draft.state, "system", `deferred to ${new Date(at).toISOString()}: ${why}`);
  return "deferred";
}

function composeFor(config: Config, project: ProjectConfig, draft: DraftView, to: string, messageId: string, secret: string): Promise<Composed> {
  const unsubscribeUrl = `${publicBase(config)}/u/${unsubscribeToken(secret, { projectId: project.id, userId: draft.userId, test: false })}`;
  return composeMessage({ config, project, messageId, to, subject: draft.subject, text: draft.text, html: draft.html, unsubscribeUrl, secret });
}

/** Queues a message made from a draft (a real send or a test) for its first attempt. */
function insertDraftMessage(
  tx: Transaction,
  config: Config,
  project: ProjectConfig,
  draft: DraftView,
  m: { id: string; to: string; subject: string; composed: Composed; isTest: boolean },
): Promise<void> {
  return insertMessage(tx, {
    id: m.id,
    projectId: project.id,
    draftId: draft.id,
    ruleId: draft.ruleId,
    userId: draft.userId,
    to: m.to,
    from: m.composed.from,
    subject: m.subject,
    smtpMessageId: m.composed.smtpMessageId,
    eml: m.composed.eml,
    transport: smtpFor(config, project) ? "smtp" : "outbox",
    isTest: m.isTest,
    links: m.composed.links,
  });
}

/** Queues the composed message for its user and marks the draft `sending`, in the caller's transaction. */
async function queueDraftMessage(tx: Transaction, config: Config, project: ProjectConfig, draft: DraftView, to: string, messageId: string, composed: Composed): Promise<void> {
  await insertDraftMessage(tx, config, project, draft, { id: messageId, to, subject: draft.subject, composed, isTest: false });
  await transitionDraft(tx, { draftId: draft.id, from: ["scheduled"], to: "sending", actor: "system", note: `queued as ${messageId}`, set: { message_id: messageId } });
}

/**
 * Sends a draft as a test to any address (SPEC §8): rendered with the real user's data, marked as a test,
 * never counted against caps. Its unsubscribe link is a test link that changes nothing. Returns the message id;
 * the sender delivers it on its next tick. The history names `actor`, the person who asked for it.
 */
export async function sendTestDraft(env: SchedulerEnv, draftId: string, address: string, actor: Actor = "system"): Promise<string> {
  if (!/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(address)) throw ApiError.of(422, "validation_failed", "A valid email address is required.", "address");
  return env.database.write(async (tx) => {
    const draft = await getDraft(tx, draftId);
    if (!draft) throw ApiError.of(404, "not_found", `No draft ${draftId}.`);
    const project = env.config.projects.find((p) => p.id === draft.projectId);
    if (!project) throw ApiError.of(409, "invalid_state", `The draft's project ${draft.projectId} is no longer configured.`);
    const secret = await loadLinkSecret(tx);
    const realToken = unsubscribeToken(secret, { projectId: project.id, userId: draft.userId, test: false });
    const testToken = unsubscribeToken(secret, { projectId: project.id, userId: draft.userId, test: true });
    const swap = (s: string) => s.split(realToken).join(testToken);
    const messageId = newId("msg");
    const unsubscribeUrl = `${publicBase(env.config)}/u/${testToken}`;
    const composed = await composeMessage({ config: env.config, project, messageId, to: address, subject: draft.subject, text: swap(draft.text), html: swap(draft.html), unsubscribeUrl, secret, test: true });
    await insertDraftMessage(tx, env.config, project, draft, { id: messageId, to: address, subject: `[Test] ${draft.subject}`, composed, isTest: true });
    await recordHistory(tx, draft.id, draft.state, draft.state, actor, `test sent to ${address} as ${messageId}`);
    return messageId;
  });
}
