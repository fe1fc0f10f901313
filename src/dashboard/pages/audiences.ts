import { audienceMembers, audienceSizes, resolveAudiences } from "../../audiences";
import { ApiError } from "../../lib/errors";
import { html } from "../html";
import { link, page, pager, time, userPath } from "../layout";
import { shownEmail, shownName } from "../pii";
import { type DashboardRequest, htmlResponse, pageOffset } from "../request";

/** Audiences (SPEC §6, §11): every audience of the project with its size, and its members. */
export async function showAudiences(req: DashboardRequest): Promise<Response> {
  const sizes = new Map((await audienceSizes(req.ctx.database, req.project.id)).map((s) => [s.audienceId, s.size]));
  const audiences = resolveAudiences(req.project);
  const body = html`<table><thead><tr><th>Audience</th><th>Members</th><th>Filter</th></tr></thead><tbody>
${audiences.map((a) => html`<tr data-audience="${a.id}"><td><a href="${link(req, `/audiences/${encodeURIComponent(a.id)}`)}">${a.name}</a> <span class="muted">${a.id}${a.isDefault ? " · default" : ""}</span>
${a.description ? html`<div class="muted">${a.description}</div>` : ""}</td><td data-size="${sizes.get(a.id) ?? 0}">${sizes.get(a.id) ?? 0}</td><td><pre>${JSON.stringify(a.filter)}</pre></td></tr>`)}
</tbody></table>`;
  return htmlResponse(page(req, "Audiences", body));
}

const PAGE = 100;

export async function showAudience(req: DashboardRequest): Promise<Response> {
  const audience = resolveAudiences(req.project).find((a) => a.id === req.params.id);
  if (!audience) throw ApiError.of(404, "not_found", "No such audience in this project.");
  const offset = pageOffset(req);
  const { total, members } = await audienceMembers(req.ctx.database, req.project.id, audience.id, { limit: PAGE, offset });
  const body = html`<p>${total} member(s). <span class="muted">${audience.description ?? ""}</span></p>
<table><thead><tr><th>User</th><th>Email</th><th>Name</th><th>Stage</th><th>Entered</th></tr></thead><tbody>
${members.map((m) => html`<tr><td><a href="${link(req, userPath(m.externalUserId))}">${m.externalUserId}</a></td><td>${shownEmail(req, m.email)}</td>
<td>${shownName(req, m.name)}</td><td>${m.stage ?? "—"}</td><td>${time(m.enteredAt)}</td></tr>`)}
</tbody></table>
${pager(req, `/audiences/${encodeURIComponent(audience.id)}`, {}, offset, PAGE, offset + members.length < total)}`;
  return htmlResponse(page(req, `Audience: ${audience.name}`, body));
}
