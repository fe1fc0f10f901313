import { createKey, listKeys, revokeKey } from "../../keys/service";
import { ApiError } from "../../lib/errors";
import { html, type Html } from "../html";
import { action, hidden, link, page, time } from "../layout";
import { readAutopilotOverride } from "../queries";
import { field, htmlResponse, redirect, type DashboardRequest } from "../request";

/** Settings (SPEC §11): the project's autopilot switch and its API keys (created — shown once — and revoked). */
async function settingsBody(req: DashboardRequest, created?: { key: string; name: string }): Promise<Html> {
  const [override, keys] = await Promise.all([readAutopilotOverride(req.ctx.database, req.project.id), listKeys(req.ctx.database, req.project.id)]);
  const effective = override ?? req.project.autopilot;
  const admin = req.session.role === "admin";
  const choice = (value: string, label: string, checked: boolean) =>
    html`<label style="font-weight:normal"><input type="radio" name="autopilot" value="${value}" ${checked ? html`checked` : ""} ${admin ? "" : html`disabled`}> ${label}</label>`;
  return html`${created
    ? html`<div class="notice" role="status"><strong>New API key "${created.name}"</strong> — copy it now, it is not shown again:
<code class="key" data-new-key>${created.key}</code></div>`
    : ""}
<h2>Autopilot</h2>
<p>Autopilot is <strong data-autopilot="${effective ? "on" : "off"}">${effective ? "on" : "off"}</strong> for ${req.project.name}.
With autopilot on, drafts are scheduled and go out at their deadline unless someone intervenes; off, they wait for approval. Rules may override it.</p>
<form method="post" action="/dashboard/settings/autopilot">${hidden(req)}
${choice("on", "On", override === true)}${choice("off", "Off", override === false)}${choice("config", `Follow the config (${req.project.autopilot ? "on" : "off"})`, override === null)}
${admin ? html`<div class="row"><button type="submit">Save</button></div>` : ""}</form>
<h2>API keys</h2>
<table><thead><tr><th>Name</th><th>Key</th><th>Created</th><th>Last used</th><th>Status</th><th></th></tr></thead><tbody>
${keys.map((k) => html`<tr data-key="${k.id}"><td>${k.name}</td><td><code>${k.display}</code></td><td>${time(k.createdAt)}</td><td>${time(k.lastUsedAt)}</td>
<td>${k.revokedAt ? html`revoked ${time(k.revokedAt)}` : "active"}</td><td>${k.revokedAt ? "" : action(req, `/settings/keys/${k.id}/revoke`, "Revoke", { cls: "danger" })}</td></tr>`)}
</tbody></table>
${admin
  ? html`<form method="post" action="/dashboard/settings/keys" class="row">${hidden(req)}<input type="text" name="name" placeholder="key name, e.g. backend" aria-label="Key name" maxlength="100" required><button type="submit" class="primary">Create key</button></form>`
  : ""}`;
}

export async function showSettings(req: DashboardRequest): Promise<Response> {
  return htmlResponse(page(req, "Settings", await settingsBody(req)));
}

export async function postAutopilot(req: DashboardRequest): Promise<Response> {
  const value = req.form.get("autopilot");
  if (value !== "on" && value !== "off" && value !== "config") throw ApiError.of(422, "validation_failed", "Choose on, off or follow the config.", "autopilot");
  await req.ctx.database.execute({
    sql: "UPDATE projects SET autopilot_override = ? WHERE id = ?",
    args: [value === "config" ? null : value === "on" ? 1 : 0, req.project.id],
  });
  return redirect(link(req, "/settings", { notice: "autopilot" }));
}

/** Answers with the page itself (not a redirect), so the key exists only in this one response, never in a URL. */
export async function postCreateKey(req: DashboardRequest): Promise<Response> {
  const name = field(req.form, "name").slice(0, 100);
  const created = await createKey(req.ctx.database, req.project.id, name);
  return htmlResponse(page(req, "Settings", await settingsBody(req, { key: created.key, name })));
}

export async function postRevokeKey(req: DashboardRequest): Promise<Response> {
  const id = req.params.id!;
  const revoked = await revokeKey(req.ctx.database, id, { verifier: req.ctx.keys, projectId: req.project.id });
  if (!revoked) throw ApiError.of(404, "not_found", "No such active key in this project.");
  return redirect(link(req, "/settings", { notice: "revoked" }));
}
