import { html } from "../html";
import { page } from "../layout";
import { tableExists } from "../queries";
import { htmlResponse, type DashboardRequest } from "../request";

/**
 * Webhooks (SPEC §10, §11): deliveries and dead letters. The webhook sender is its own capability; this page
 * reads its `webhook_deliveries` table generically when it exists, and says so plainly when it does not.
 */
const TABLE = "webhook_deliveries";

export async function showWebhooks(req: DashboardRequest): Promise<Response> {
  const endpoints = req.project.webhooks;
  const endpointList = html`<h2>Endpoints</h2>${endpoints.length === 0
    ? html`<p class="muted">No webhook endpoints configured for this project.</p>`
    : html`<ul>${endpoints.map((e) => html`<li><code>${e.url}</code> <span class="muted">${e.events.join(", ")}</span></li>`)}</ul>`}`;
  if (!(await tableExists(req.ctx.database, TABLE))) {
    return htmlResponse(page(req, "Webhooks", html`${endpointList}<p class="muted">Webhook deliveries are not recorded by this build.</p>`));
  }
  const rs = await req.ctx.database.read({ sql: `SELECT * FROM ${TABLE} WHERE project_id = ? ORDER BY rowid DESC LIMIT 200`, args: [req.project.id] });
  const columns = rs.columns.filter((c) => !/body|payload|secret/i.test(c));
  const isDead = (r: Record<string, unknown>) => ["dead", "dead_letter", "dead_lettered"].includes(String(r.state ?? r.status ?? ""));
  const rows = rs.rows as unknown as Record<string, unknown>[];
  const table = (list: Record<string, unknown>[]) =>
    list.length === 0
      ? html`<p class="muted">None.</p>`
      : html`<table><thead><tr>${columns.map((c) => html`<th>${c}</th>`)}</tr></thead><tbody>${list.map(
          (r) => html`<tr>${columns.map((c) => html`<td>${r[c] === null ? "" : String(r[c])}</td>`)}</tr>`,
        )}</tbody></table>`;
  const body = html`${endpointList}<h2>Dead letters</h2>${table(rows.filter(isDead))}<h2>Recent deliveries</h2>${table(rows)}`;
  return htmlResponse(page(req, "Webhooks", body));
}
