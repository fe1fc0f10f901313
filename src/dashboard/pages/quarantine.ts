import { discardQuarantine, listQuarantine, QUARANTINE_STATES, replayQuarantine, showQuarantine, type QuarantineRecord } from "../../pipeline";
import { ApiError } from "../../lib/errors";
import { html } from "../html";
import { action, hidden, link, page, pager, time } from "../layout";
import { shownJson } from "../pii";
import { type DashboardRequest, htmlResponse, pageOffset, redirect } from "../request";

/** Quarantine (SPEC §5.3, §11): inspect, edit and replay, discard — one by one or in bulk. */
const PAGE = 100;

export async function showQuarantineList(req: DashboardRequest): Promise<Response> {
  const wanted = req.url.searchParams.get("state") ?? "open";
  const state = wanted === "all" || (QUARANTINE_STATES as readonly string[]).includes(wanted) ? (wanted as "all") : "open";
  const offset = pageOffset(req);
  const { items, total } = await listQuarantine(req.ctx.database, { projectId: req.project.id, state, limit: PAGE, offset });
  const admin = req.session.role === "admin";
  const tabs = html`<div class="row">${[...QUARANTINE_STATES, "all"].map((s) => html`<a class="btn" href="${link(req, "/quarantine", { state: s })}">${s}</a>`)}</div>`;
  const rows = items.map(
    (q) => html`<tr data-quarantine="${q.id}">${admin ? html`<td><input type="checkbox" name="ids" value="${q.id}" aria-label="${`Select ${q.id}`}"></td>` : ""}
<td><a href="${link(req, `/quarantine/${q.id}`)}">${q.id}</a></td><td>${q.reason}</td><td>${q.kind}</td><td>${q.externalUserId ?? ""}</td><td>${q.eventName ?? ""}</td>
<td>${time(q.createdAt)}</td><td><span class="badge">${q.state}</span></td></tr>`,
  );
  const table = html`<table><thead><tr>${admin ? html`<th></th>` : ""}<th>Id</th><th>Reason</th><th>Kind</th><th>User</th><th>Event</th><th>Quarantined</th><th>State</th></tr></thead>
<tbody>${rows}</tbody></table>`;
  const more = pager(req, "/quarantine", { state }, offset, PAGE, offset + items.length < total);
  const body = html`${tabs}<p class="muted">${total} item(s).</p>
${admin && items.length > 0
  ? html`<form method="post" action="/dashboard/quarantine/bulk">${hidden(req)}
<div class="row"><button type="submit" name="action" value="replay" class="primary">Replay selected</button><button type="submit" name="action" value="discard" class="danger">Discard selected</button></div>
${table}</form>`
  : table}${more}`;
  return htmlResponse(page(req, "Quarantine", body));
}

async function itemOf(req: DashboardRequest): Promise<QuarantineRecord> {
  const item = await showQuarantine(req.ctx.database, req.params.id!);
  if (!item || item.projectId !== req.project.id) throw ApiError.of(404, "not_found", "No such quarantined item in this project.");
  return item;
}

export async function showQuarantineItem(req: DashboardRequest): Promise<Response> {
  const item = await itemOf(req);
  const admin = req.session.role === "admin";
  const payload = shownJson(req, item.payload);
  const body = html`<table><tbody>
<tr><th style="width:180px">Reason</th><td>${item.reason}</td></tr><tr><th>Detail</th><td>${item.detail}</td></tr>
<tr><th>Kind</th><td>${item.kind}</td></tr><tr><th>Source</th><td>${item.source}</td></tr><tr><th>State</th><td><span class="badge" data-state="${item.state}">${item.state}</span></td></tr>
<tr><th>Received</th><td>${time(item.receivedAt)}</td></tr><tr><th>Quarantined</th><td>${time(item.createdAt)}</td></tr></tbody></table>
<h2>Payload</h2>
${admin && item.state === "open"
  ? html`<form method="post" action="${`/dashboard/quarantine/${item.id}/replay`}">${hidden(req)}
<textarea name="payload" rows="14" aria-label="Payload">${payload}</textarea>
<div class="row"><button type="submit" class="primary">Replay (with these edits)</button></div></form>
<div class="row">${action(req, `/quarantine/${item.id}/discard`, "Discard", { cls: "danger" })}</div>`
  : html`<pre data-section="payload">${payload}</pre>`}`;
  return htmlResponse(page(req, `Quarantined ${item.id}`, body));
}

/** The edit only counts when it changed something: an untouched textarea replays the original verbatim. */
function editedPayload(item: QuarantineRecord, submitted: string | null): string | undefined {
  if (submitted === null) return undefined;
  try {
    if (JSON.stringify(JSON.parse(submitted)) === JSON.stringify(JSON.parse(item.payload))) return undefined;
  } catch {
    // not JSON: replayQuarantine answers 422
  }
  return submitted;
}

export async function postReplay(req: DashboardRequest): Promise<Response> {
  const item = await itemOf(req);
  await replayQuarantine(req.ctx.database, item.id, editedPayload(item, req.form.get("payload")), req.project.id);
  return redirect(link(req, `/quarantine/${item.id}`, { notice: "replayed" }));
}

export async function postDiscard(req: DashboardRequest): Promise<Response> {
  const item = await itemOf(req);
  await discardQuarantine(req.ctx.database, item.id, req.project.id);
  return redirect(link(req, `/quarantine/${item.id}`, { notice: "discarded" }));
}

/** Each item on its own: one that was already handled by someone else is reported, the rest go through. */
export async function postBulk(req: DashboardRequest): Promise<Response> {
  const verb = req.form.get("action");
  if (verb !== "replay" && verb !== "discard") throw ApiError.of(422, "validation_failed", "Choose replay or discard.", "action");
  const ids = [...new Set(req.form.getAll("ids"))].slice(0, 1000);
  if (ids.length === 0) throw ApiError.of(422, "validation_failed", "Select at least one item.", "ids");
  const failures: { id: string; message: string }[] = [];
  let done = 0;
  for (const id of ids) {
    try {
      if (verb === "replay") await replayQuarantine(req.ctx.database, id, undefined, req.project.id);
      else await discardQuarantine(req.ctx.database, id, req.project.id);
      done++;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      failures.push({ id, message: error.message });
    }
  }
  const body = html`<div class="notice" role="status" data-done="${done}">${verb === "replay" ? "Replayed" : "Discarded"} ${done} item(s).</div>
${failures.length > 0 ? html`<div class="error"><p>${failures.length} item(s) were not changed:</p><ul>${failures.map((f) => html`<li>${f.id}: ${f.message}</li>`)}</ul></div>` : ""}
<p><a href="${link(req, "/quarantine")}">Back to the quarantine</a></p>`;
  return htmlResponse(page(req, "Quarantine — bulk", body));
}
