import { z } from "zod";
import type { Config } from "../config/schema";
import type { Database } from "../db/client";
import { isWellFormed } from "../ingest/rules";
import { now } from "../lib/clock";
import { log } from "../lib/log";
import { loadLinkSecret } from "../mail/tokens";
import { buildTemplateContext, loadEvent, loadUser } from "./context";
import { recordHistory } from "./history";
import { toDraftView, type DraftView } from "./queries";
import { finishContent, textToHtml } from "./render";
import { lookupRule } from "./rules-link";
import { mapConcurrently } from "../lib/concurrency";

/**
 * Optional drafting through an OpenAI-compatible chat-completions endpoint (`[drafting]`, SPEC §8).
 *
 * A draft is created from its template inside the evaluator's transaction with `drafting = 'pending'`; this step
 * runs afterwards, outside any transaction, asks the model, and replaces the content (`source = 'llm'`) unless a
 * person edited the draft first. On any error, garbage answer or timeout the template text stays
 * (`drafting = 'failed'`, `source = 'template'`). The scheduler does not send a draft while it is pending.
 */
// Unicode text only: a lone surrogate escape in the answer would be stored as invalid UTF-8, which libSQL cannot
// read back (the draft page would take the process down). Such an answer is an error: the template is used.
const answerText = (max: number) => z.string().trim().min(1).max(max).refine(isWellFormed, { error: "not valid Unicode text" });
const answerSchema = z.object({ subject: answerText(200), text: answerText(5000) });

type Drafting = NonNullable<Config["drafting"]>;

/** The endpoint that writes a project's drafts: its own `[projects.drafting]`, else the instance's `[drafting]`. */
export function draftingFor(config: Config, project: { drafting?: Drafting }): Drafting | undefined {
  return project.drafting ?? config.drafting;
}

/** Whether any project's drafts are written by a model (the drafting loop runs). */
export const anyDrafting = (config: Config) => config.drafting !== undefined || config.projects.some((p) => p.drafting);

const SYSTEM_PROMPT = [
  "You write short lifecycle emails for a SaaS founder to one of their users.",
  "Plain, warm and human; no marketing speak, no emojis, at most 120 words, one clear question or next step.",
  "Do not include links you were not given, and do not add an unsubscribe line (it is added for you).",
  'Answer with JSON only: {"subject": "...", "text": "..."} where text is plain text with blank lines between paragraphs.',
].join(" ");

/** Asks the model for a draft; throws on any error, timeout or answer that is not the JSON asked for. */
export async function askModel(drafting: Drafting, context: Record<string, unknown>, templateDraft: { subject: string; text: string }): Promise<{ subject: string; text: string }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`timed out after ${drafting.timeout} ms`)), drafting.timeout);
  try {
    const res = await fetch(`${drafting.base_url.replace(/\/+$/, "")}/chat/completions`, {
      method: "POST",
      signal: controller.signal,
      headers: { "content-type": "application/json", ...(drafting.api_key ? { authorization: `Bearer ${drafting.api_key}` } : {}) },
      body: JSON.stringify({
        model: drafting.model,
        temperature: 0.7,
        messages: [
          { role: "system", content: SYSTEM_PROMPT },
          { role: "user", content: JSON.stringify({ context, template_draft: templateDraft }) },
        ],
      }),
    });
    if (!res.ok) throw new Error(`the endpoint answered ${res.status}`);
    const body = (await res.json()) as { choices?: { message?: { content?: unknown } }[] };
    const content = body.choices?.[0]?.message?.content;
    if (typeof content !== "string") throw new Error("the answer has no message content");
    const json = content.trim().replace(/^```(?:json)?\s*/i, "").replace(/\s*```$/, "");
    const answer = answerSchema.safeParse(JSON.parse(json));
    // One line for the draft's history (zod's own message is a multi-line JSON dump of its issues).
    if (!answer.success) throw new Error(`the answer is not {"subject", "text"}: ${answer.error.issues.map((i) => `${i.path.join(".") || "answer"}: ${i.message}`).join("; ")}`);
    return answer.data;
  } finally {
    clearTimeout(timer);
  }
}

/** Pending drafts taken per pass, and how many of them are asked of the model at once. */
const DRAFTING_PAGE = 16;
const DRAFTING_CONCURRENCY = 8;

export type DraftingPass = { written: number; failed: number; /** the page was full: run again at once */ more: boolean };

/**
 * Rewrites pending drafts with the model, the most urgent (earliest `send_at`) first, several at once: one by
 * one, a slow or hanging endpoint would hold each draft of a large first run a whole `timeout` behind the one
 * before, and autopilot mail would go out hours late. A draft already more than a `timeout` past its send time
 * is not sent to the model at all: it keeps its template and goes out now. Never throws.
 */
export async function draftPendingWithModel(database: Database, config: Config, limit = DRAFTING_PAGE): Promise<DraftingPass> {
  const rows = (
    await database.read({ sql: "SELECT d.*, NULL AS external_user_id, NULL AS email FROM drafts d WHERE d.drafting = 'pending' ORDER BY d.send_at, d.id LIMIT ?", args: [limit] })
  ).rows.map(toDraftView);
  const pass: DraftingPass = { written: 0, failed: 0, more: rows.length === limit };
  if (rows.length === 0) return pass;
  if (!anyDrafting(config)) {
    // Drafting was switched off since these were made: they keep their template text.
    await database.execute("UPDATE drafts SET drafting = 'failed' WHERE drafting = 'pending'");
    return { ...pass, more: false };
  }
  const reader = { execute: (s: Parameters<Database["read"]>[0]) => database.read(s) };
  const secret = await loadLinkSecret(database);
  await mapConcurrently(rows, DRAFTING_CONCURRENCY, async (draft) => {
    try {
      const project = config.projects.find((p) => p.id === draft.projectId);
      if (!project) throw new Error("the draft's project is gone");
      const drafting = draftingFor(config, project);
      if (!drafting) throw new Error("drafting is not configured for the project any more");
      if (draft.sendAt + drafting.timeout < now()) throw new Error("its send time passed before the model could be asked");
      const rule = lookupRule(project, draft.ruleId);
      const user = await loadUser(reader, draft.userId);
      if (!rule || !user) throw new Error("the draft's rule or user is gone");
      const context = buildTemplateContext({ user, event: await loadEvent(reader, draft.eventId), project, rule, occasion: draft.occasion, secret, config });
      const unsubscribeUrl = String(context.unsubscribe_url);
      const templateText = draft.text.split("\n\n--\nDon't want these emails?")[0]!;
      // The address is not the model's business (PII); the name is enough to write to the person.
      const shared = { ...context, user: { ...(context.user as object), email: undefined }, unsubscribe_url: undefined };
      const answer = await askModel(drafting, shared, { subject: draft.subject, text: templateText });
      const content = finishContent({ subject: answer.subject.replace(/\s+/g, " "), text: answer.text, html: textToHtml(answer.text) }, unsubscribeUrl);
      await applyModelDraft(database, draft, content);
      pass.written++;
    } catch (error) {
      await markDraftingFailed(database, draft, (error as Error).message ?? String(error));
      pass.failed++;
    }
  });
  return pass;
}

async function applyModelDraft(database: Database, draft: DraftView, content: { subject: string; text: string; html: string }): Promise<void> {
  await database.write(async (tx) => {
    // Only while still pending: a person's edit (which ends `pending`) wins over the model.
    const r = await tx.execute({
      sql: "UPDATE drafts SET subject = ?, text_body = ?, html_body = ?, source = 'llm', drafting = 'done', updated_at = ? WHERE id = ? AND drafting = 'pending'",
      args: [content.subject, content.text, content.html, now(), draft.id],
    });
    if (r.rowsAffected > 0) await recordHistory(tx, draft.id, draft.state, draft.state, "drafting", "written by the model");
  });
}

async function markDraftingFailed(database: Database, draft: DraftView, why: string): Promise<void> {
  log.warn("LLM drafting failed; the template stays", { draftId: draft.id, why });
  try {
    await database.write(async (tx) => {
      const r = await tx.execute({ sql: "UPDATE drafts SET drafting = 'failed', updated_at = ? WHERE id = ? AND drafting = 'pending'", args: [now(), draft.id] });
      if (r.rowsAffected > 0) await recordHistory(tx, draft.id, draft.state, draft.state, "drafting", `model failed, template kept: ${why.slice(0, 300)}`);
    });
  } catch (error) {
    log.error("recording a drafting failure failed", { draftId: draft.id, error });
  }
}
