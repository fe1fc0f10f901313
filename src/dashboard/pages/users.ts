import { userAudiences } from "../../audiences";
import { listDrafts } from "../../drafts";
import { now } from "../../lib/clock";
import { ApiError } from "../../lib/errors";
import { log } from "../../lib/log";
import { html } from "../html";
import { action, link, page, pager, time, userIdOf, userPath } from "../layout";
import { shownEmail, shownJson, shownName } from "../pii";
import { getUser, listMessages, searchUsers, userEvents } from "../queries";
import { actorOf, htmlResponse, isViewer, pageOffset, redirect, type DashboardRequest } from "../request";
import { draftRows } from "./drafts";
import { messageRows } from "./messages";

const USERS_PAGE = 50;

/** Users (SPEC §11): search, and a user's traits, stage, audiences, event timeline, drafts and messages. */
export async function showUsers(req: DashboardRequest): Promise<Response> {
  const q = (req.url.searchParams.get("q") ?? "").trim().slice(0, 256);
  const offset = pageOffset(req);
  // One more than a page tells whether there is a next one, without counting every user.
  const found = await searchUsers(req.ctx.database, req.project.id, q, !isViewer(req), USERS_PAGE + 1, offset);
  const users = found.slice(0, USERS_PAGE);
  const body = html`<form method="get" action="/dashboard/users" class="row">
<input type="hidden" name="project" value="${req.project.id}">
<input type="search" name="q" value="${q}" placeholder="${isViewer(req) ? "external id" : "external id, email or name"}" aria-label="Search users">
<button type="submit">Search</button></form>
<table><thead><tr><th>External id</th><th>Email</th><th>Name</th><th>Stage</th><th>Plan</th><th>Last seen</th></tr></thead><tbody>
${users.map(
  (u) => html`<tr><td><a href="${link(req, userPath(u.externalUserId))}">${u.externalUserId}</a></td>
<td>${shownEmail(req, u.email)}</td><td>${shownName(req, u.name)}</td><td>${u.stage ?? "—"}</td><td>${u.plan ?? ""}</td><td>${time(u.lastSeenAt)}</td></tr>`,
)}
</tbody></table>${users.length === 0 ? html`<p class="muted">No users found.</p>` : ""}${pager(req, "/users", { q: q || undefined }, offset, USERS_PAGE, found.length > USERS_PAGE)}`;
  return htmlResponse(page(req, "Users", body));
}

export async function showUser(req: DashboardRequest): Promise<Response> {
  const { database } = req.ctx;
  const user = await getUser(database, req.project.id, userIdOf(req.params.id!));
  if (!user) throw ApiError.of(404, "not_found", "No such user in this project.");
  const [audiences, events, drafts, messages] = await Promise.all([
    userAudiences(database, req.project.id, user.id),
    userEvents(database, user.id),
    listDrafts(database, { projectId: req.project.id, userId: user.id, limit: 100 }),
    listMessages(database, { projectId: req.project.id, userId: user.id }),
  ]);
  const fields: [string, string | number | null][] = [
    ["External id", user.externalUserId],
    ["Email", shownEmail(req, user.email)],
    ["Name", shownName(req, user.name)],
    ["Stage", user.stage],
    ["Plan", user.plan],
    ["Interval", user.interval],
    ["MRR (cents)", user.mrr],
    ["Company", user.company],
    ["Role", user.role],
    ["Signup date", time(user.signupDate)],
    ["First seen", time(user.firstSeenAt)],
    ["Last seen", time(user.lastSeenAt)],
    ["Trial ends", time(user.trialEndsAt)],
    ["Suppressed", user.suppressed ? `yes (${user.suppressedReason ?? "no reason"})` : "no"],
    ["Events", user.eventCount],
  ];
  const path = userPath(user.externalUserId);
  // Free text in traits and events ("write to ann@…") may name the user: a viewer sees their details masked there too.
  const person = { email: user.email, name: user.name, traits: user.traits };
  const body = html`<table data-section="fields"><tbody>${fields.map(([k, v]) => html`<tr><th style="width:180px">${k}</th><td>${v ?? "—"}</td></tr>`)}
<tr><th>Emails</th><td data-paused="${user.paused ? "yes" : "no"}">${user.paused ? "paused: no rule matches this user and nothing is sent" : "not paused"}
${user.paused ? action(req, `${path}/resume`, "Resume emails") : action(req, `${path}/pause`, "Pause emails", { cls: "danger" })}</td></tr></tbody></table>
<h2>Traits</h2><pre data-section="traits">${shownJson(req, user.traits, person)}</pre>
<h2>Audiences</h2>${audiences.length === 0 ? html`<p class="muted">In no audience.</p>` : html`<ul>${audiences.map((a) => html`<li><a href="${link(req, `/audiences/${encodeURIComponent(a.audienceId)}`)}">${a.audienceId}</a> <span class="muted">since ${time(a.enteredAt)}</span></li>`)}</ul>`}
<h2>Event timeline</h2>
<table data-section="events"><thead><tr><th>When</th><th>Event</th><th>Properties</th></tr></thead><tbody>
${events.map((e) => html`<tr><td>${time(e.occurredAt)}</td><td>${e.name}</td><td><pre>${shownJson(req, e.properties, person)}</pre></td></tr>`)}
</tbody></table>
<h2>Drafts</h2>${draftRows(req, drafts, new Map([[user.id, person]]))}
<h2>Messages</h2>${messageRows(req, messages)}`;
  return htmlResponse(page(req, `User ${user.externalUserId}`, body));
}

/**
 * Pausing a user (SPEC §7/§8: "suppressed, unsubscribed or paused" users never qualify): no rule matches them
 * and nothing is sent to them — a pending draft is cancelled at its send time with the reason "the user is
 * paused". Resuming undoes it. The normaliser never writes this column, so a later identify or event keeps the
 * user paused.
 */
export const postPause = (req: DashboardRequest) => setPaused(req, true);
export const postResume = (req: DashboardRequest) => setPaused(req, false);

async function setPaused(req: DashboardRequest, paused: boolean): Promise<Response> {
  const externalUserId = userIdOf(req.params.id!);
  const result = await req.ctx.database.execute({
    sql: "UPDATE tracked_users SET paused = ?, updated_at = ? WHERE project_id = ? AND external_user_id = ?",
    args: [paused ? 1 : 0, now(), req.project.id, externalUserId],
  });
  if (result.rowsAffected === 0) throw ApiError.of(404, "not_found", "No such user in this project.");
  log.info(paused ? "user paused" : "user resumed", { project: req.project.id, actor: actorOf(req) });
  return redirect(link(req, userPath(externalUserId), { notice: paused ? "paused" : "resumed" }));
}
