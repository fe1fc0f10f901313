import { html, href, join, trusted, type Html } from "./html";
import type { DashboardRequest } from "./request";

/** Fixed notices a redirect may ask for (`?notice=approved`): never text taken from the URL. */
const NOTICES: Record<string, string> = {
  approved: "Draft approved.",
  rejected: "Draft rejected.",
  rescheduled: "Draft rescheduled.",
  edited: "Draft saved.",
  test_sent: "Test email queued.",
  replayed: "Replayed: the item is back in the queue.",
  discarded: "Discarded.",
  bulk_done: "Done.",
  evaluated: "Evaluator run finished.",
  autopilot: "Autopilot setting saved.",
  revoked: "Key revoked.",
  paused: "Emails paused for this user.",
  resumed: "Emails resumed for this user.",
  redelivered: "Delivery re-sent: it is pending again, with the same id.",
};

const NAV: [string, string][] = [
  ["", "Overview"],
  ["/users", "Users"],
  ["/quarantine", "Quarantine"],
  ["/drafts", "Drafts"],
  ["/messages", "Messages"],
  ["/rules", "Rules"],
  ["/audiences", "Audiences"],
  ["/webhooks", "Webhooks"],
  ["/settings", "Settings"],
];

export const STYLE = trusted(`
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
header a{color:#cfd6e4;text-decoration:none;padding:4px 6px;border-radius:4px}header a.on,header a:hover{background:#394257;color:#fff}
header .brand{font-weight:700;color:#fff;margin-right:8px}header form{display:inline;margin:0}
header .me{margin-left:auto;display:flex;gap:8px;align-items:center;color:#cfd6e4}
main{padding:20px;max-width:1200px;margin:0 auto}h1{font-size:20px;margin:4px 0 16px}h2{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde1e8}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eceef2;vertical-align:top}
th{background:#f0f2f5;font-weight:600}pre{background:#fff;border:1px solid #dde1e8;padding:8px;white-space:pre-wrap;word-break:break-word;max-height:420px;overflow:auto;margin:0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:12px}.card{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:12px}
.card .n{font-size:26px;font-weight:700}.card .n a{color:#2456d6;text-decoration:none}.card .l{color:#5b6475}.muted{color:#6b7385}.notice{background:#e5f6ea;border:1px solid #9bd3ad;padding:8px 12px;border-radius:4px;margin-bottom:12px}
.error{background:#fdecec;border:1px solid #f0a6a6;padding:8px 12px;border-radius:4px;margin-bottom:12px}
button,.btn{font:inherit;padding:4px 10px;border:1px solid #9aa3b5;border-radius:4px;background:#fff;cursor:pointer;color:#1d2330;text-decoration:none;display:inline-block}
button.primary{background:#2456d6;border-color:#2456d6;color:#fff}button.danger{border-color:#c33;color:#c33}
input[type=text],input[type=search],input[type=email],input[type=password],input[type=datetime-local],select,textarea{font:inherit;padding:4px 6px;border:1px solid #9aa3b5;border-radius:4px;background:#fff}
textarea{width:100%;font-family:ui-monospace,Menlo,monospace}form.inline{display:inline}.row{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:8px 0}
iframe{width:100%;height:320px;border:1px solid #dde1e8;background:#fff}.key{font-family:ui-monospace,monospace;background:#fff8d6;border:1px solid #e6c94d;padding:8px;display:block;margin:6px 0}
label{display:block;margin:6px 0 2px;font-weight:600}.badge{display:inline-block;padding:0 6px;border-radius:10px;background:#e8ebf1;color:#1d2330;font-size:12px}
a{color:#2456d6}header .me .badge{background:#394257;color:#fff}
`);

/** A link inside the dashboard that keeps the chosen project. */
export function link(req: DashboardRequest, path: string, query: Record<string, string | number | undefined> = {}): string {
  return href(`/dashboard${path}`, { project: req.project.id, ...query });
}

/** "Previous page" / "Next page" links of a paged list (`?offset=`), keeping the list's other parameters. */
export function pager(req: DashboardRequest, path: string, query: Record<string, string | undefined>, offset: number, size: number, hasNext: boolean): Html {
  const prev = offset > 0 ? html`<a class="btn" rel="prev" href="${link(req, path, { ...query, offset: Math.max(0, offset - size) || undefined })}">Previous page</a>` : "";
  const next = hasNext ? html`<a class="btn" rel="next" href="${link(req, path, { ...query, offset: offset + size })}">Next page</a>` : "";
  return prev || next ? html`<p class="row" data-pager>${prev}${next}</p>` : html``;
}

/**
 * A user's page, `/users/<external id>`. Browsers resolve a path segment `.` or `..` (even as `%2E%2E`) before
 * sending it, so such an id — valid per SPEC §3 — is written with one `~` in front, and so is any id of `~`s
 * followed by one or two dots, which keeps the spelling reversible (`userIdOf`).
 */
export function userPath(externalUserId: string): string {
  const segment = DOTS.test(externalUserId) ? `~${externalUserId}` : externalUserId;
  return `/users/${encodeURIComponent(segment)}`;
}

/** The external id a `/users/:id` segment names (the inverse of `userPath`). */
export function userIdOf(segment: string): string {
  return segment.startsWith("~") && DOTS.test(segment) ? segment.slice(1) : segment;
}

const DOTS = /^~*\.\.?$/;

/** The hidden fields every form carries: the session's CSRF token and the project. */
export function hidden(req: DashboardRequest, extra: Record<string, string> = {}): Html {
  const fields = { _csrf: req.session.csrfToken, project: req.project.id, ...extra };
  return join(Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`));
}

/** A one-button POST form (admins only: viewers see nothing to press). */
export function action(req: DashboardRequest, path: string, label: string, opts: { fields?: Record<string, string>; cls?: string } = {}): Html {
  if (req.session.role !== "admin") return html``;
  return html`<form class="inline" method="post" action="${`/dashboard${path}`}">${hidden(req, opts.fields)}<button type="submit" class="${opts.cls ?? ""}">${label}</button></form>`;
}

export function page(req: DashboardRequest, title: string, body: Html): Html {
  const path = req.url.pathname.replace(/^\/dashboard/, "");
  const section = "/" + (path.split("/")[1] ?? "");
  const key = req.url.searchParams.get("notice") ?? "";
  const notice = Object.hasOwn(NOTICES, key) ? NOTICES[key as keyof typeof NOTICES] : undefined; // not `constructor`
  const projects = req.ctx.config.projects;
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · Vibefollow</title><style>${STYLE}</style></head><body>
<header><span class="brand">Vibefollow</span>
${NAV.map(([p, label]) => html`<a href="${link(req, p)}" class="${(p === "" ? section === "/" : section === p) ? "on" : ""}">${label}</a>`)}
<span class="me">
${projects.length > 1
  ? html`<form method="get" action="${`/dashboard${path}`}"><select name="project" aria-label="Project">${projects.map(
      (p) => html`<option value="${p.id}" ${p.id === req.project.id ? trusted("selected") : ""}>${p.name}</option>`,
    )}</select> <button type="submit">Switch</button></form>`
  : html`<span>${req.project.name}</span>`}
<span>${req.session.username} <span class="badge">${req.session.role}</span></span>
<form method="post" action="/dashboard/logout">${hidden(req)}<button type="submit">Log out</button></form>
</span></header>
<main>${notice ? html`<div class="notice" role="status">${notice}</div>` : ""}<h1>${title}</h1>${body}</main></body></html>`;
}

/** Times in the dashboard are UTC, ISO-like and sortable. */
export function time(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function ago(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}
