import { createDrafts } from "../../drafts";
import { applyQueued } from "../../pipeline";
import { ApiError } from "../../lib/errors";
import { formatDuration } from "../../lib/durations";
import { createEvaluator, listRuns, previewRule, resolveRules, type Evaluator, type ResolvedRule } from "../../rules";
import type { AppContext } from "../../context";
import { html } from "../html";
import { action, link, page, time, userPath } from "../layout";
import { shownEmail } from "../pii";
import { htmlResponse, redirect, type DashboardRequest } from "../request";

/** Rules (SPEC §7, §11): parameters, the last run, a preview, and "evaluate now". */
const DURATION_KEYS = new Set(["delay", "stalled_after", "grace", "inactive_for", "after", "cooldown", "unless_within", "review_window"]);

function parameters(rule: ResolvedRule): string {
  const { id: _id, kind: _kind, enabled: _enabled, template: _template, ...rest } = rule as ResolvedRule & { template?: unknown };
  const shown = Object.fromEntries(
    Object.entries(rest).map(([k, v]) => [k, DURATION_KEYS.has(k) && typeof v === "number" ? formatDuration(v) : v]),
  );
  const entries = Object.entries(shown).filter(([, v]) => v !== undefined);
  return entries.length === 0 ? "—" : entries.map(([k, v]) => `${k} = ${typeof v === "string" ? v : JSON.stringify(v)}`).join("\n");
}

export async function showRules(req: DashboardRequest): Promise<Response> {
  const rules = resolveRules(req.project);
  // Runs that covered this project (a run for another project alone, e.g. `evaluate --project beta`, is not its).
  const runs = (await listRuns(req.ctx.database, 100)).filter((r) => r.rules.some((o) => o.project === req.project.id)).slice(0, 20);
  const last = runs.find((r) => r.status !== "running");
  const outcome = (ruleId: string) => last?.rules.find((o) => o.project === req.project.id && o.rule === ruleId);
  const body = html`<div class="row">${action(req, "/rules/evaluate", "Evaluate now", { cls: "primary" })}
<span class="muted">Last run: ${last ? html`${time(last.startedAt)} (${last.trigger}, ${last.status}, ${last.durationMs ?? "?"} ms)` : "never"}</span></div>
<table><thead><tr><th>Rule</th><th>Kind</th><th>Enabled</th><th>Parameters</th><th>Last run matches</th><th></th></tr></thead><tbody>
${rules.map((r) => {
  const o = outcome(r.id);
  return html`<tr data-rule="${r.id}"><td>${r.id}</td><td>${r.kind}</td><td>${r.enabled ? "yes" : "no"}</td><td><code style="white-space:pre-wrap">${parameters(r)}</code></td>
<td>${o ? html`${o.matches}${o.error ? html` <span class="muted">error: ${o.error}</span>` : ""}` : "—"}</td>
<td><a href="${link(req, `/rules/${encodeURIComponent(r.id)}/preview`)}">Preview</a></td></tr>`;
})}</tbody></table>
<h2>Recent runs</h2><table><thead><tr><th>Started</th><th>Trigger</th><th>Status</th><th>Duration</th><th>Matches (this project)</th></tr></thead><tbody>
${runs.map((r) => html`<tr><td>${time(r.startedAt)}</td><td>${r.trigger}</td><td>${r.status}</td><td>${r.durationMs ?? "—"} ms</td>
<td>${r.rules.filter((o) => o.project === req.project.id).reduce((n, o) => n + o.matches, 0)}</td></tr>`)}
</tbody></table>`;
  return htmlResponse(page(req, "Rules", body));
}

export async function showPreview(req: DashboardRequest): Promise<Response> {
  const preview = await previewRule(req.ctx.database, req.project, req.params.id!, undefined, { limit: 100 });
  if (!preview) throw ApiError.of(404, "not_found", "No such rule in this project.");
  const body = html`<p data-total="${preview.total}">${preview.total} user(s) would match now${preview.enabled ? "" : " (the rule is disabled)"}. Nothing is recorded by a preview.</p>
<table><thead><tr><th>User</th><th>Email</th><th>Occasion</th></tr></thead><tbody>
${preview.matches.map((m) => html`<tr><td><a href="${link(req, userPath(m.externalUserId))}">${m.externalUserId}</a></td><td>${shownEmail(req, m.email)}</td><td>${m.occasion}</td></tr>`)}
</tbody></table><p><a href="${link(req, "/rules")}">Back to rules</a></p>`;
  return htmlResponse(page(req, `Preview: ${preview.ruleId}`, body));
}

/** The same evaluator the cron job runs (runs never overlap within the process; the ledger keeps re-runs harmless). */
export function dashboardEvaluator(ctx: AppContext): Evaluator {
  return createEvaluator(ctx, { onMatches: async (tx, matches) => void (await createDrafts(tx, matches, ctx.config)) });
}

export function postEvaluate(evaluator: Evaluator) {
  return async (req: DashboardRequest): Promise<Response> => {
    await applyQueued(req.ctx); // every request acknowledged before the click counts
    await evaluator.run({ trigger: "manual", projectId: req.project.id });
    return redirect(link(req, "/rules", { notice: "evaluated" }));
  };
}
