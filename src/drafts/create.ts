import type { Config, ProjectConfig } from "../config/schema";
import type { Transaction } from "../db/client";
import { now } from "../lib/clock";
import { newId } from "../lib/ids";
import { log } from "../lib/log";
import { emitMailEvent } from "../mail/events";
import { loadLinkSecret, type Executor } from "../mail/tokens";
import { buildTemplateContext, loadEvent, loadUser } from "./context";
import { defaultTemplateFor, templateFor } from "./default-templates";
import { renderTemplates, type Rendered } from "./render";
import { lookupRule } from "./rules-link";
import { chooseTimeZone, nextWindowSlot } from "./send-window";
import type { DraftMatch, DraftRule } from "./types";

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
  const created: string[] = [];
  for (const match of matches) {
    const project = config.projects.find((p) => p.id === match.projectId);
    const rule = project && lookupRule(project, match.ruleId);
    if (!project || !rule) {
      log.warn("match for an unknown project or rule", { projectId: match.projectId, ruleId: match.ruleId });
      continue;
    }
    if (!overrides.has(project.id)) overrides.set(project.id, await loadAutopilotOverride(tx, project.id));
    const id = await createDraft(tx, config, project, rule, match, secret, overrides.get(project.id) ?? null);
    if (id) created.push(id);
  }
  return created;
}

async function createDraft(
  tx: Executor,
  config: Config,
  project: ProjectConfig,
  rule: DraftRule,
  match: DraftMatch,
  secret: string,
  autopilotOverride: boolean | null,
): Promise<string | undefined> {
  const user = await loadUser(tx, match.userId);
  if (!user || user.projectId !== project.id || !user.email) return undefined;
  const event = await loadEvent(tx, match.eventId);
  const context = buildTemplateContext({ user, event, project, rule, occasion: match.occasion, secret, config });
  const rendered = renderSafely(rule, context);

  const autopilot = rule.autopilot ?? autopilotOverride ?? project.autopilot;
  const reviewWindow = rule.review_window ?? project.review_window;
  const timeZone = chooseTimeZone(user.traits, project.timezone);
  const createdAt = now();
  const deadline = nextWindowSlot(createdAt + reviewWindow, project.send_window, timeZone);
  const state = autopilot ? "scheduled" : "pending_review";
  const id = newId("drf");
  const inserted = await tx.execute({
    sql: `INSERT INTO drafts (id, project_id, rule_id, rule_kind, user_id, occasion, event_id, state, subject, text_body, html_body,
                              source, drafting, autopilot, time_zone, created_at, deadline, send_at, updated_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'template', ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (project_id, rule_id, user_id, occasion) DO NOTHING`,
    args: [
      id, project.id, rule.id, rule.kind, user.id, match.occasion, match.eventId ?? null, state,
      rendered.subject, rendered.text, rendered.html, config.drafting ? "pending" : null, autopilot ? 1 : 0, timeZone,
      createdAt, deadline, deadline, createdAt,
    ],
  });
  if (inserted.rowsAffected === 0) return undefined;
  await tx.execute({
    sql: "INSERT INTO draft_history (draft_id, from_state, to_state, actor, note, at) VALUES (?, NULL, ?, ?, ?, ?)",
    args: [id, state, "evaluator", autopilot ? "autopilot: scheduled for its deadline" : "waiting for review", createdAt],
  });
  await emitMailEvent(tx, {
    type: "draft.created",
    projectId: project.id,
    at: createdAt,
    data: { draft_id: id, rule_id: rule.id, state, deadline: new Date(deadline).toISOString(), subject: rendered.subject, external_user_id: user.externalUserId, email: user.email },
  });
  return id;
}

/** A template that fails at render time (e.g. a filter given a bad value) falls back to the rule's default. */
function renderSafely(rule: DraftRule, context: Record<string, unknown>): Rendered {
  try {
    return renderTemplates(templateFor(rule), context);
  } catch (error) {
    log.warn("template failed to render; using the default", { ruleId: rule.id, error });
    return renderTemplates(defaultTemplateFor(rule), context);
  }
}

/** The dashboard's autopilot switch for the project (null = follow the config). */
export async function loadAutopilotOverride(exec: Executor, projectId: string): Promise<boolean | null> {
  const row = (await exec.execute({ sql: "SELECT autopilot_override FROM projects WHERE id = ?", args: [projectId] })).rows[0];
  if (!row || row.autopilot_override === null) return null;
  return Boolean(Number(row.autopilot_override));
}
