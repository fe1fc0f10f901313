import type { InValue } from "@libsql/client";
import type { Config, ProjectConfig } from "../config/schema";
import type { Transaction } from "../db/client";
import { now } from "../lib/clock";
import { newId } from "../lib/ids";
import { piiStrings } from "../lib/pii";
import { log } from "../lib/log";
import { emitMailEvent } from "../mail/events";
import { loadLinkSecret, type Executor } from "../mail/tokens";
import { buildTemplateContext, loadEvents, loadUsers, type UserRow } from "./context";
import { triggeringEventIds } from "./trigger-event";
import { defaultTemplateFor, templateFor } from "./default-templates";
import { renderTemplates, type Rendered } from "./render";
import { draftingFor } from "./llm";
import { lookupRule } from "./rules-link";
import { chooseTimeZone, nextWindowSlot } from "./send-window";
import type { DraftMatch, DraftRule } from "./types";
import { breathe } from "../lib/breathe";

/**
 * Turns new rule matches into drafts, inside the evaluator's transaction (so a firing and its draft commit
 * together). Rendering uses the template only: the optional LLM rewrite happens later in the background
 * (`drafting = 'pending'`), because a slow network call must never hold the write transaction.
 * Returns the ids of the drafts created; a match that already has a draft (same occasion) adds nothing.
 */
export async function createDrafts(tx: Transaction, matches: readonly DraftMatch[], config: Config): Promise<string[]> {
  if (matches.length === 0) return [];
  const secret = await loadLinkSecret(tx);
  const overrides = new Map<string, boolean | null>();
  const rules = new Map<string, DraftRule | undefined>(); // resolved once per call, not per match
  const users = await loadUsers(tx, matches.map((m) => m.userId));
  const eventIds = await triggeringEventIds(tx, matches);
  const events = await loadEvents(tx, eventIds.filter((id): id is number => id !== null));
  const rows: DraftRow[] = [];
  for (const [i, found] of matches.entries()) {
    const match = { ...found, eventId: eventIds[i] };
    await breathe(); // rendering thousands of drafts is the longest synchronous stretch of a first run
    const project = config.projects.find((p) => p.id === match.projectId);
    const ruleKey = `${match.projectId}\0${match.ruleId}`;
    if (project && !rules.has(ruleKey)) rules.set(ruleKey, lookupRule(project, match.ruleId));
    const rule = rules.get(ruleKey);
    if (!project || !rule) {
      log.warn("match for an unknown project or rule", { projectId: match.projectId, ruleId: match.ruleId });
      continue;
    }
    const user = users.get(match.userId);
    if (!user || user.projectId !== project.id || !user.email) continue;
    if (!overrides.has(project.id)) overrides.set(project.id, await loadAutopilotOverride(tx, project.id));
    const event = match.eventId === null || match.eventId === undefined ? null : (events.get(match.eventId) ?? null);
    rows.push(prepareDraft(config, project, rule, match, user, event, secret, overrides.get(project.id) ?? null));
  }
  const created: string[] = [];
  // Multi-row statements: a first run can hand over thousands of matches in one page.
  for (let i = 0; i < rows.length; i += 100) {
    await breathe();
    created.push(...(await insertDrafts(tx, rows.slice(i, i + 100))));
  }
  return created;
}

/** `note`: the creation's history note (how it was scheduled, and a template that failed to render). */
type DraftRow = { values: InValue[]; id: string; state: string; createdAt: number; deadline: number; projectId: string; ruleId: string; subject: string; user: UserRow; note: string };

function prepareDraft(
  config: Config,
  project: ProjectConfig,
  rule: DraftRule,
  match: DraftMatch,
  user: UserRow,
  event: Record<string, unknown> | null,
  secret: string,
  autopilotOverride: boolean | null,
): DraftRow {
  const context = buildTemplateContext({ user, event, project, rule, occasion: match.occasion, secret, config });
  const { rendered, fallback } = renderSafely(rule, context);
  const autopilot = rule.autopilot ?? autopilotOverride ?? project.autopilot;
  const reviewWindow = rule.review_window ?? project.review_window;
  const timeZone = chooseTimeZone(user.traits, project.timezone);
  const createdAt = now();
  const deadline = nextWindowSlot(createdAt + reviewWindow, project.send_window, timeZone);
  const state = autopilot ? "scheduled" : "pending_review";
  const id = newId("drf");
  const values: InValue[] = [
    id, project.id, rule.id, rule.kind, user.id, match.occasion, match.eventId ?? null, state,
    rendered.subject, rendered.text, rendered.html, draftingFor(config, project) ? "pending" : null, autopilot ? 1 : 0, timeZone,
    createdAt, deadline, deadline, createdAt, piiTermsOf(user, event),
  ];
  const note = `${autopilot ? "autopilot: scheduled for its deadline" : "waiting for review"}${fallback ? `; ${fallback}` : ""}`;
  return { values, id, state, createdAt, deadline, projectId: project.id, ruleId: rule.id, subject: rendered.subject, user, note };
}

async function insertDrafts(tx: Executor, rows: DraftRow[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const inserted = (
    await tx.execute({
      sql: `INSERT INTO drafts (id, project_id, rule_id, rule_kind, user_id, occasion, event_id, state, subject, text_body, html_body,
                                source, drafting, autopilot, time_zone, created_at, deadline, send_at, updated_at, pii_terms)
            VALUES ${rows.map(() => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'template', ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}
            ON CONFLICT (project_id, rule_id, user_id, occasion) DO NOTHING
            RETURNING id`,
      args: rows.flatMap((r) => r.values),
    })
  ).rows.map((r) => String(r.id));
  const fresh = new Set(inserted);
  const made = rows.filter((r) => fresh.has(r.id));
  if (made.length === 0) return [];
  await tx.execute({
    sql: `INSERT INTO draft_history (draft_id, from_state, to_state, actor, note, at) VALUES ${made.map(() => "(?, NULL, ?, 'evaluator', ?, ?)").join(", ")}`,
    args: made.flatMap((r) => [r.id, r.state, r.note, r.createdAt]),
  });
  for (const r of made) {
    await emitMailEvent(tx, {
      type: "draft.created",
      projectId: r.projectId,
      at: r.createdAt,
      data: { draft_id: r.id, rule_id: r.ruleId, state: r.state, deadline: new Date(r.deadline).toISOString(), subject: r.subject, external_user_id: r.user.externalUserId, email: r.user.email },
    });
  }
  return made.map((r) => r.id);
}

/** The PII the draft's text may hold (`pii_terms`), as they are now: what a viewer's dashboard masks in it even
 * after the user's details change. */
function piiTermsOf(user: UserRow, event: Record<string, unknown> | null): string {
  const terms = [user.email, user.name, ...piiStrings(user.traits), ...piiStrings(event?.properties)];
  return JSON.stringify([...new Set(terms.filter((t): t is string => typeof t === "string" && t.trim() !== ""))]);
}

/**
 * The draft's content from the rule's template. One that fails at render time (e.g. a filter given a bad value)
 * falls back to the rule's default; `fallback` says what was replaced, for the draft's history, so a reviewer sees
 * why the text is not the rule's own.
 */
function renderSafely(rule: DraftRule, context: Record<string, unknown>): { rendered: Rendered; fallback?: string } {
  try {
    const rendered = renderTemplates(templateFor(rule), context);
    // A subject that renders empty (`{{ user.company }}` for a user without one) would leave as no subject at all.
    if (rendered.subject.trim() === "") {
      const subject = renderTemplates(defaultTemplateFor(rule), context).subject;
      return { rendered: { ...rendered, subject }, fallback: "the rule's subject rendered empty, the default subject was used" };
    }
    return { rendered };
  } catch (error) {
    log.warn("template failed to render; using the default", { ruleId: rule.id, error });
    const failure = ((error as Error).message ?? String(error)).split("\n")[0]!;
    return { rendered: renderTemplates(defaultTemplateFor(rule), context), fallback: `the rule's template failed (${failure.slice(0, 200)}), the default was used` };
  }
}

/** The dashboard's autopilot switch for the project (null = follow the config). */
export async function loadAutopilotOverride(exec: Executor, projectId: string): Promise<boolean | null> {
  const row = (await exec.execute({ sql: "SELECT autopilot_override FROM projects WHERE id = ?", args: [projectId] })).rows[0];
  if (!row || row.autopilot_override === null) return null;
  return Boolean(Number(row.autopilot_override));
}
