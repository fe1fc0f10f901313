import { ApiError } from "../../lib/errors";
import { listDeliveries, redeliver, type DeliveryView } from "../../webhooks";
import { html } from "../html";
import { action, link, page, time } from "../layout";
import { htmlResponse, redirect, type DashboardRequest } from "../request";

/** Webhooks (SPEC §10, §11): configured endpoints, dead letters (re-sendable, same id) and recent deliveries. */
export async function showWebhooks(req: DashboardRequest): Promise<Response> {
  const endpoints = req.project.webhooks;
  const [dead, recent] = await Promise.all([
    listDeliveries(req.ctx.database, req.project.id, { state: "dead", limit: 200 }),
    listDeliveries(req.ctx.database, req.project.id, { limit: 200 }),
  ]);
  const endpointList = endpoints.length === 0
    ? html`<p class="muted">No webhook endpoints configured for this project.</p>`
    : html`<ul>${endpoints.map((e) => html`<li><code>${e.url}</code> <span class="muted">${e.events.join(", ")}</span></li>`)}</ul>`;
  const table = (list: DeliveryView[], resend: boolean) =>
    list.length === 0
      ? html`<p class="muted">None.</p>`
      : html`<table><thead><tr><th>Id</th><th>Event</th><th>Endpoint</th><th>State</th><th>Attempts</th><th>Last status</th><th>Last error</th><th>Created</th><th>Next attempt</th>${resend ? html`<th></th>` : ""}</tr></thead><tbody>${list.map(
          (d) => html`<tr data-delivery="${d.id}"><td><code>${d.id}</code></td><td>${d.eventType}</td><td><code>${d.endpointUrl}</code></td>
<td><span class="badge">${d.state}</span></td><td>${d.attempts}</td><td>${d.lastStatus ?? ""}</td><td>${d.lastError ?? ""}</td>
<td>${time(d.createdAt)}</td><td>${d.state === "pending" && d.nextAttemptAt ? time(d.nextAttemptAt) : ""}</td>
${resend ? html`<td>${action(req, `/webhooks/${d.id}/redeliver`, "Re-send")}</td>` : ""}</tr>`,
        )}</tbody></table>`;
  const body = html`<h2>Endpoints</h2>${endpointList}<h2>Dead letters</h2>${table(dead, true)}<h2>Recent deliveries</h2>${table(recent, false)}`;
  return htmlResponse(page(req, "Webhooks", body));
}

/** Puts a dead delivery back on the schedule with the same id and body. */
export async function postRedeliver(req: DashboardRequest): Promise<Response> {
  const ok = await redeliver(req.ctx.database, req.params.id!, req.project.id);
  if (!ok) {
    // A delivery that is not (or no longer) dead — it went out, or a re-send is already scheduled — is a conflict,
    // as for drafts; only an id this project does not have is "not found".
    const row = (await req.ctx.database.read({ sql: "SELECT state FROM webhook_deliveries WHERE id = ? AND project_id = ?", args: [req.params.id!, req.project.id] })).rows[0];
    if (row) throw ApiError.of(409, "invalid_state", `This delivery is ${String(row.state)}, not dead: only dead letters are re-sent.`);
    throw ApiError.of(404, "not_found", "No dead delivery with this id in this project.");
  }
  return redirect(link(req, "/webhooks", { notice: "redelivered" }));
}
