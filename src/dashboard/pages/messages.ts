import { ApiError } from "../../lib/errors";
import { html, type Html } from "../html";
import { link, page, pager, time } from "../layout";
import { shownEmail, shownText } from "../pii";
import { listMessages, messageEml, type MessageRow } from "../queries";
import { htmlResponse, pageOffset, SECURITY_HEADERS, type DashboardRequest } from "../request";

/** Messages and the outbox (SPEC §9, §11): every email handed to a transport; outbox mail downloads as .eml. */
export function messageRows(req: DashboardRequest, messages: MessageRow[]): Html {
  if (messages.length === 0) return html`<p class="muted">No messages.</p>`;
  const admin = req.session.role === "admin";
  return html`<table data-section="messages"><thead><tr><th>Created</th><th>To</th><th>Subject</th><th>Via</th><th>State</th><th>Sent</th><th></th></tr></thead><tbody>
${messages.map(
  (m) => html`<tr data-message="${m.id}"><td>${time(m.createdAt)}</td><td>${shownEmail(req, m.toAddress)}${m.isTest ? html` <span class="badge">test</span>` : ""}</td>
<td>${shownText(req, m.subject, m.user)}</td><td>${m.transport}</td><td><span class="badge">${m.state}</span>${m.error ? html` <span class="muted">${shownText(req, m.error, m.user)}</span>` : ""}</td>
<td>${time(m.sentAt)}</td><td>${admin ? html`<a href="${link(req, `/messages/${m.id}.eml`)}">.eml</a>` : ""}</td></tr>`,
)}</tbody></table>`;
}

/** Messages per page (newest first; "Next page" for older ones). */
const MESSAGES_PAGE = 200;

export async function showMessages(req: DashboardRequest): Promise<Response> {
  const transport = req.url.searchParams.get("transport") === "outbox" ? "outbox" : undefined;
  const offset = pageOffset(req);
  // One more than a page tells whether there is a next one.
  const found = await listMessages(req.ctx.database, { projectId: req.project.id, transport, limit: MESSAGES_PAGE + 1, offset });
  const messages = found.slice(0, MESSAGES_PAGE);
  const body = html`<div class="row"><a class="btn" href="${link(req, "/messages")}">All</a><a class="btn" href="${link(req, "/messages", { transport: "outbox" })}">Outbox only</a></div>
<p class="muted">Without SMTP configured, mail stays in the built-in outbox: nothing leaves the machine. Admins can download each message as .eml.</p>
${messageRows(req, messages)}${pager(req, "/messages", { transport }, offset, MESSAGES_PAGE, found.length > MESSAGES_PAGE)}`;
  return htmlResponse(page(req, transport ? "Outbox" : "Messages", body));
}

/** The stored .eml (admins only: it holds the recipient's address and name in full). */
export async function downloadEml(req: DashboardRequest): Promise<Response> {
  const id = req.params.file!.replace(/\.eml$/, "");
  const eml = await messageEml(req.ctx.database, req.project.id, id);
  if (eml === undefined) throw ApiError.of(404, "not_found", "No such message in this project.");
  const safeName = id.replace(/[^a-z0-9_]/gi, "");
  return new Response(eml, {
    headers: { ...SECURITY_HEADERS, "content-type": "message/rfc822", "content-disposition": `attachment; filename="${safeName}.eml"` },
  });
}
