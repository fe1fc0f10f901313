import { countDraftsByState } from "../../drafts";
import { countQuarantine, queueStats } from "../../pipeline";
import { html } from "../html";
import { ago, link, page } from "../layout";
import { eventCounts, readAutopilotOverride, sendCounts } from "../queries";
import { htmlResponse, type DashboardRequest } from "../request";

/** The overview (SPEC §11): queue depth and lag, events per minute, drafts waiting, sends, quarantine. */
export async function showOverview(req: DashboardRequest): Promise<Response> {
  const { database } = req.ctx;
  const projectId = req.project.id;
  const [queue, events, drafts, sends, quarantined, override] = await Promise.all([
    queueStats(database, projectId),
    eventCounts(database, projectId),
    countDraftsByState(database, projectId),
    sendCounts(database, projectId),
    countQuarantine(database, projectId),
    readAutopilotOverride(database, projectId),
  ]);
  const autopilot = override ?? req.project.autopilot;
  const card = (id: string, value: string | number, label: string, to?: string) =>
    html`<div class="card" data-stat="${id}"><div class="n">${to ? html`<a href="${to}">${value}</a>` : value}</div><div class="l">${label}</div></div>`;
  const body = html`<div class="cards">
${card("queue-depth", queue.depth, "queued items")}
${card("queue-lag", ago(queue.lagMs), "queue lag (oldest item)")}
${card("events-minute", events.lastMinute, "events in the last minute")}
${card("events-hour", events.lastHour, "events in the last hour")}
${card("drafts-waiting", drafts.pending_review ?? 0, "drafts waiting for review", link(req, "/drafts"))}
${card("drafts-scheduled", drafts.scheduled ?? 0, "drafts scheduled", link(req, "/drafts", { state: "scheduled" }))}
${card("sends-24h", sends.sent, "emails sent in 24 h", link(req, "/messages"))}
${card("failed-24h", sends.failed, "sends failed in 24 h", link(req, "/messages"))}
${card("quarantine-open", quarantined, "quarantined items open", link(req, "/quarantine"))}
</div>
<p class="muted">Project <strong>${req.project.name}</strong> (${req.project.id}) · autopilot <strong data-autopilot="${autopilot ? "on" : "off"}">${autopilot ? "on" : "off"}</strong>${override === null ? " (from the config)" : " (set in Settings)"}.</p>`;
  return htmlResponse(page(req, "Overview", body));
}
