import { DRAFT_STATES, type DraftState } from "../../db/schema/drafts";
import { approveDraft, draftHistoryOf, editDraft, getDraft, listDrafts, rejectDraft, rescheduleDraft, sendTestDraft, type DraftView } from "../../drafts";
import { ApiError } from "../../lib/errors";
import { visibleText } from "../../lib/html";
import { html, type Html } from "../html";
import { action, hidden, link, page, pager, time, userPath } from "../layout";
import { shownEmail, shownText } from "../pii";
import type { Person } from "../mask";
import { peopleOf, personOf } from "../queries";
import { actorOf, field, htmlResponse, isViewer, pageOffset, redirect, type DashboardRequest } from "../request";

/** Drafts (SPEC §11): the review queue sorted by deadline; approve, edit, reject, reschedule, test send. */
/** `people` (user id → email, name, traits) lets a viewer's list show subjects with the recipient masked. */
export function draftRows(req: DashboardRequest, drafts: DraftView[], people: Map<number, Person> = new Map()): Html {
  if (drafts.length === 0) return html`<p class="muted">No drafts.</p>`;
  return html`<table data-section="drafts"><thead><tr><th>Deadline</th><th>State</th><th>Rule</th><th>To</th><th>Subject</th><th></th></tr></thead><tbody>
${drafts.map(
  (d) => html`<tr data-draft="${d.id}"><td>${time(d.deadline)}</td><td><span class="badge">${d.state}</span></td><td>${d.ruleId}</td>
<td>${shownEmail(req, d.email)}</td><td><a href="${link(req, `/drafts/${d.id}`)}">${shownText(req, d.subject, { ...(people.get(d.userId) ?? { email: d.email, name: null }), terms: d.piiTerms })}</a></td>
<td>${d.state === "pending_review" ? action(req, `/drafts/${d.id}/approve`, "Approve", { cls: "primary", fields: { seen: String(d.updatedAt) } }) : ""}</td></tr>`,
)}</tbody></table>`;
}

/** Drafts per page of the review queue and the other state tabs. */
const DRAFTS_PAGE = 200;

export async function showDrafts(req: DashboardRequest): Promise<Response> {
  const wanted = req.url.searchParams.get("state") ?? "pending_review";
  const state = (DRAFT_STATES as readonly string[]).includes(wanted) ? (wanted as DraftState) : undefined;
  const offset = pageOffset(req);
  const found = await listDrafts(req.ctx.database, { projectId: req.project.id, state, limit: DRAFTS_PAGE + 1, offset });
  const drafts = found.slice(0, DRAFTS_PAGE);
  const people = isViewer(req) ? await peopleOf(req.ctx.database, drafts.map((d) => d.userId)) : new Map<number, Person>();
  const tabs = html`<div class="row">${[...DRAFT_STATES, "all"].map(
    (s) => html`<a class="btn" href="${link(req, "/drafts", { state: s })}" ${s === (state ?? "all") ? html`aria-current="page" style="font-weight:700"` : ""}>${s.replace("_", " ")}</a>`,
  )}</div>`;
  const more = pager(req, "/drafts", { state: state ?? "all" }, offset, DRAFTS_PAGE, found.length > DRAFTS_PAGE);
  return htmlResponse(page(req, state === "pending_review" ? "Review queue" : "Drafts", html`${tabs}${draftRows(req, drafts, people)}${more}`));
}

async function draftOf(req: DashboardRequest): Promise<DraftView> {
  const draft = await getDraft(req.ctx.database, req.params.id!);
  if (!draft || draft.projectId !== req.project.id) throw ApiError.of(404, "not_found", "No such draft in this project.");
  return draft;
}

/**
 * The HTML preview's frame is sandboxed (no scripts, forms, popups or navigation of the page; the page's CSP
 * applies to it too) but keeps the dashboard's origin. With a unique origin Chromium renders it in another
 * process, and a click made right after the page scrolls (Playwright's `fill` then `click` on Save, below it)
 * went to that frame's stale hit-test area instead of the button: the form was never sent. With no script able
 * to run in it, and no request it could make (the page's CSP allows images only as `data:` URLs, no other
 * loads, and no forms), the origin gives its content nothing to use.
 */
export async function showDraft(req: DashboardRequest): Promise<Response> {
  const draft = await draftOf(req);
  const [history, current] = await Promise.all([draftHistoryOf(req.ctx.database, draft.id), personOf(req.ctx.database, draft.userId)]);
  const person = { ...current, terms: draft.piiTerms };
  const text = (s: string) => shownText(req, s, person);
  const open = draft.state === "pending_review" || draft.state === "scheduled";
  const admin = req.session.role === "admin";
  const editing = admin && open
    ? html`<h2>Edit</h2><form method="post" action="${`/dashboard/drafts/${draft.id}/edit`}">${hidden(req, { seen: String(draft.updatedAt) })}
<label for="subject">Subject</label><input type="text" id="subject" name="subject" value="${draft.subject}" style="width:100%">
<label for="text">Text</label><textarea id="text" name="text" rows="12">${draft.text}</textarea>
<div class="row"><button type="submit">Save</button></div></form>
<h2>Reschedule</h2><form method="post" action="${`/dashboard/drafts/${draft.id}/reschedule`}" class="row">${hidden(req)}
<label for="at">New deadline (UTC)</label><input type="datetime-local" id="at" name="at" value="${new Date(draft.deadline).toISOString().slice(0, 16)}" required>
<button type="submit">Reschedule</button></form>
<h2>Reject</h2><form method="post" action="${`/dashboard/drafts/${draft.id}/reject`}" class="row">${hidden(req)}
<input type="text" name="reason" placeholder="reason (optional)" aria-label="Reason"><button type="submit" class="danger">Reject</button></form>`
    : "";
  const test = admin
    ? html`<h2>Test send</h2><form method="post" action="${`/dashboard/drafts/${draft.id}/test`}" class="row">${hidden(req)}
<input type="email" name="address" placeholder="you@example.com" aria-label="Test address" required><button type="submit">Send test</button></form>`
    : "";
  const body = html`<p><span class="badge" data-state="${draft.state}">${draft.state}</span> · rule <strong>${draft.ruleId}</strong> (${draft.ruleKind}) ·
to ${shownEmail(req, draft.email)} · user <a href="${link(req, userPath(draft.externalUserId ?? ""))}">${draft.externalUserId ?? "?"}</a></p>
<p>Created ${time(draft.createdAt)} · deadline <strong>${time(draft.deadline)}</strong> · send at ${time(draft.sendAt)} (${draft.timeZone}) · made by ${draft.source}${draft.reason ? html` · reason: ${text(draft.reason)}` : ""}</p>
<div class="row">${draft.state === "pending_review" ? action(req, `/drafts/${draft.id}/approve`, "Approve", { cls: "primary", fields: { seen: String(draft.updatedAt) } }) : ""}</div>
<h2>Subject</h2><pre data-section="subject">${text(draft.subject)}</pre>
<h2>Text</h2><pre data-section="text">${text(draft.text)}</pre>
<h2>HTML preview</h2>
<iframe sandbox="allow-same-origin" referrerpolicy="no-referrer" title="HTML preview" srcdoc="${shownText(req, draft.html, person, true)}"></iframe>
${editing}${test}
<h2>History</h2><table><thead><tr><th>When</th><th>From</th><th>To</th><th>Actor</th><th>Note</th></tr></thead><tbody>
${history.map((h) => html`<tr><td>${time(h.at)}</td><td>${h.from ?? ""}</td><td>${h.to}</td><td>${h.actor}</td><td>${text(h.note ?? "")}</td></tr>`)}
</tbody></table>`;
  return htmlResponse(page(req, isViewer(req) ? `Draft ${draft.id}` : `Draft: ${draft.subject}`, body));
}

/** The draft version (`updated_at`) the form was built from, when it says. */
function seenOf(req: DashboardRequest): number | undefined {
  const seen = Number(req.form.get("seen") ?? Number.NaN);
  return Number.isInteger(seen) ? seen : undefined;
}

export async function postApprove(req: DashboardRequest): Promise<Response> {
  const draft = await draftOf(req);
  await approveDraft(req.ctx.database, req.ctx.config, draft.id, actorOf(req), seenOf(req));
  return redirect(link(req, "/drafts", { notice: "approved" }));
}

export async function postReject(req: DashboardRequest): Promise<Response> {
  const draft = await draftOf(req);
  const reason = req.form.get("reason")?.trim().slice(0, 500) || undefined;
  await rejectDraft(req.ctx.database, draft.id, actorOf(req), reason);
  return redirect(link(req, "/drafts", { notice: "rejected" }));
}

/**
 * A field posted back as the page showed it is not an edit: the page shows control and bidi characters as U+FFFD
 * (lib/html.ts), and saving the subject must not replace the ones in the text (an RTL name's U+200F), nor the reverse.
 */
function editedField(posted: string | undefined, current: string): string | undefined {
  return posted === undefined || posted === visibleText(current) ? undefined : posted;
}

export async function postEdit(req: DashboardRequest): Promise<Response> {
  const draft = await draftOf(req);
  const subject = editedField(req.form.get("subject") ?? undefined, draft.subject);
  const text = editedField(req.form.get("text")?.replace(/\r\n/g, "\n") ?? undefined, draft.text);
  await editDraft(req.ctx.database, draft.id, { subject, text }, actorOf(req), seenOf(req));
  return redirect(link(req, `/drafts/${draft.id}`, { notice: "edited" }));
}

export async function postReschedule(req: DashboardRequest): Promise<Response> {
  const draft = await draftOf(req);
  const raw = field(req.form, "at");
  // datetime-local has no zone: the form says UTC, so it is read as UTC.
  const at = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(raw) ? Date.parse(`${raw}Z`) : Number.NaN;
  if (!Number.isFinite(at)) throw ApiError.of(422, "validation_failed", "Give the new deadline as YYYY-MM-DDTHH:MM (UTC).", "at");
  await rescheduleDraft(req.ctx.database, draft.id, at, actorOf(req));
  return redirect(link(req, `/drafts/${draft.id}`, { notice: "rescheduled" }));
}

export async function postTestSend(req: DashboardRequest): Promise<Response> {
  const draft = await draftOf(req);
  await sendTestDraft({ database: req.ctx.database, config: req.ctx.config }, draft.id, field(req.form, "address"), actorOf(req));
  return redirect(link(req, `/drafts/${draft.id}`, { notice: "test_sent" }));
}
