import type { ProjectConfig } from "../config/schema";
import type { AppContext } from "../context";
import { ApiError } from "../lib/errors";
import { readCapped } from "../lib/read-capped";
import { Html } from "./html";
import type { Session } from "./sessions";

/** What a dashboard page handler gets: the signed-in session, the chosen project, the query and the form. */
export type DashboardRequest = {
  ctx: AppContext;
  request: Request;
  url: URL;
  params: Record<string, string>;
  session: Session;
  project: ProjectConfig;
  /** The POSTed form (empty for GET). */
  form: URLSearchParams;
};

export type Handler = (req: DashboardRequest) => Promise<Response> | Response;

/**
 * Headers on every dashboard response. The CSP allows no script at all and only inline styles: a second wall
 * behind the escaping (html.ts). Images only as `data:` URLs: the pages have none of their own, and a draft's
 * HTML preview (a same-origin frame, which inherits this policy) must not make the browser fetch anything, from
 * the dashboard with the session cookie or from a sender's tracking server. Pages hold PII, so nothing is
 * cached; nothing may frame them.
 */
export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
};

export function htmlResponse(body: Html, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(body.value, { status, headers: { ...SECURITY_HEADERS, "content-type": "text/html; charset=utf-8", ...headers } });
}

/** POST-redirect-GET: 303 so a reload never re-submits. `to` is always a path we built. */
export function redirect(to: string, headers: Record<string, string> = {}): Response {
  return new Response(null, { status: 303, headers: { ...SECURITY_HEADERS, location: to, ...headers } });
}

export function parseCookies(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    const name = part.slice(0, i).trim();
    if (name && !(name in out)) out[name] = part.slice(i + 1).trim();
  }
  return out;
}

/** Forms are small; a quarantined payload being edited is the largest thing posted (the API caps it at 1 MiB). */
const MAX_FORM_BYTES = 2 * 1024 * 1024;

export async function readForm(request: Request): Promise<URLSearchParams> {
  // Media types are case-insensitive (RFC 9110 §8.3.1).
  const type = (request.headers.get("content-type") ?? "").toLowerCase();
  if (!type.startsWith("application/x-www-form-urlencoded")) {
    throw ApiError.of(415, "unsupported_media_type", "Forms are posted as application/x-www-form-urlencoded.");
  }
  const bytes = await readCapped(request, MAX_FORM_BYTES);
  if (!bytes) throw ApiError.of(413, "payload_too_large", "The form is too large.");
  return new URLSearchParams(new TextDecoder().decode(bytes));
}

/** A required form field, trimmed; 422 when missing. */
export function field(form: URLSearchParams, name: string): string {
  const v = form.get(name);
  if (v === null || v.trim() === "") throw ApiError.of(422, "validation_failed", `The field "${name}" is required.`, name);
  return v.trim();
}

export function requireAdmin(req: DashboardRequest): void {
  if (req.session.role !== "admin") throw ApiError.of(403, "forbidden", "Viewers cannot change anything.");
}

/** The `?offset=` of a paged list: a whole number from 0, anything else (or one SQLite cannot bind) is 0. */
export function pageOffset(req: DashboardRequest): number {
  const offset = Number(req.url.searchParams.get("offset") ?? "0");
  return Number.isSafeInteger(offset) && offset > 0 ? offset : 0;
}

export function actorOf(req: DashboardRequest): string {
  return `dashboard:${req.session.username}`;
}

export function isViewer(req: DashboardRequest): boolean {
  return req.session.role !== "admin";
}
