import type { AppContext } from "../context";
import { ApiError } from "../lib/errors";
import { log } from "../lib/log";
import { html } from "./html";
import { page } from "./layout";
import { logout, SESSION_COOKIE, showLogin, submitLogin } from "./login";
import { htmlResponse, parseCookies, readForm, redirect, type DashboardRequest, type Handler } from "./request";
import { LoginThrottle } from "./login-throttle";
import { loadSession, sameToken, type Session } from "./sessions";

/**
 * The dashboard's own small router: every request under /dashboard passes the same gate, in this order —
 * session (else to the login page), for POST the Origin check and the session's CSRF token (else 403), the
 * route's role (admin-only actions answer viewers 403), then the project. Keeping the gate in one place means
 * a new page cannot forget it.
 */
export type Route = { method: "GET" | "POST"; path: string; handler: Handler; admin?: boolean };

type Compiled = Route & { parts: string[] };

export function createRouter(ctx: AppContext, routes: Route[]) {
  const compiled: Compiled[] = routes.map((r) => ({ ...r, parts: split(r.path) }));
  const throttle = new LoginThrottle();

  return async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const path = url.pathname.replace(/^\/dashboard/, "") || "/";
    const method = request.method === "HEAD" ? "GET" : request.method;
    try {
      const session = await loadSession(ctx.database, parseCookies(request.headers.get("cookie"))[SESSION_COOKIE]);
      if (path === "/login") {
        if (method === "GET") return session ? redirect("/dashboard") : showLogin(ctx);
        if (method === "POST") return await submitLogin(ctx, request, throttle);
      }
      if (!session) {
        if (method === "GET") return redirect("/dashboard/login");
        return plainError(403, "Not signed in.");
      }
      if (method !== "GET" && method !== "POST") return plainError(405, "Method not allowed.");
      const form = method === "POST" ? await checkPost(request, session, ctx.config.server.public_url) : new URLSearchParams();
      if (method === "POST" && path === "/logout") return await logout(ctx, session);
      const match = findRoute(compiled, method, path);
      if (!match) return errorPage(ctx, request, session, 404, "No such page.");
      if (match.route.admin && session.role !== "admin") return errorPage(ctx, request, session, 403, "Viewers cannot change anything.");
      // A POST names its project in the form (every form has the field), else in its URL like a page; only a request
      // naming none falls back to the first project.
      const projectId = (method === "POST" ? form.get("project") : null) ?? url.searchParams.get("project") ?? ctx.config.projects[0]?.id;
      const project = ctx.config.projects.find((p) => p.id === projectId);
      if (!project) return errorPage(ctx, request, session, 404, "No such project.");
      const req: DashboardRequest = { ctx, request, url, params: match.params, session, project, form };
      try {
        return await match.route.handler(req);
      } catch (error) {
        if (error instanceof ApiError) return htmlResponse(page(req, `Error ${error.status}`, html`<div class="error" role="alert">${error.message}</div>`), error.status);
        throw error;
      }
    } catch (error) {
      if (error instanceof ApiError) return plainError(error.status, error.message);
      const requestId = crypto.randomUUID();
      log.error("dashboard request failed", { requestId, method, path, error });
      return plainError(500, `Internal error (request ${requestId}).`);
    }
  };
}

/**
 * A POST must come from our own pages: same Origin when the browser says one — the host this request was sent to,
 * or the host of `server.public_url` — and the session's CSRF token.
 */
async function checkPost(request: Request, session: Session, publicUrl: string | undefined): Promise<URLSearchParams> {
  const origin = request.headers.get("origin");
  // Compared by host: behind a TLS-terminating proxy the browser says https while this process sees http. A proxy
  // may also pass its own upstream address as Host (nginx's default), where only public_url names our pages.
  const ours = [request.headers.get("host") ?? new URL(request.url).host, publicUrl ? originHost(publicUrl) : undefined];
  const from = origin === null ? undefined : originHost(origin);
  if (origin !== null && (from === undefined || !ours.includes(from))) {
    throw ApiError.of(403, "forbidden", "Cross-origin form posts are refused.");
  }
  const form = await readForm(request).catch((error) => {
    // An unreadable body cannot carry the token: same answer as a missing token.
    if (error instanceof ApiError && error.status === 415) throw ApiError.of(403, "forbidden", "Missing CSRF token.");
    throw error;
  });
  if (!sameToken(form.get("_csrf"), session.csrfToken)) throw ApiError.of(403, "forbidden", "Missing or wrong CSRF token.");
  return form;
}

function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined; // "null" (sandboxed frames, file:) is never our page
  }
}

function split(path: string): string[] {
  return path.split("/").filter(Boolean);
}

function findRoute(routes: Compiled[], method: string, path: string): { route: Compiled; params: Record<string, string> } | undefined {
  const parts = split(path);
  for (const route of routes) {
    if (route.method !== method || route.parts.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < parts.length && ok; i++) {
      const want = route.parts[i]!;
      if (want.startsWith(":")) {
        try {
          params[want.slice(1)] = decodeURIComponent(parts[i]!);
        } catch {
          ok = false;
        }
      } else ok = want === parts[i];
    }
    if (ok) return { route, params };
  }
  return undefined;
}

function plainError(status: number, message: string): Response {
  return htmlResponse(html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error ${status}</title></head><body><h1>Error ${status}</h1><p role="alert">${message}</p><p><a href="/dashboard">Dashboard</a></p></body></html>`, status);
}

function errorPage(ctx: AppContext, request: Request, session: Session, status: number, message: string): Response {
  const project = ctx.config.projects[0];
  if (!project) return plainError(status, message);
  const req: DashboardRequest = { ctx, request, url: new URL(request.url), params: {}, session, project, form: new URLSearchParams() };
  return htmlResponse(page(req, `Error ${status}`, html`<div class="error" role="alert">${message}</div>`), status);
}
