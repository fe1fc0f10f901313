import type { AppContext } from "../context";
import { verifyAdmin } from "./accounts";
import type { LoginThrottle } from "./login-throttle";
import { html } from "./html";
import { STYLE } from "./layout";
import { htmlResponse, parseCookies, readForm, redirect } from "./request";
import { createSession, deleteSession, randomSecret, sameToken, SESSION_TTL_MS, type Session } from "./sessions";

/**
 * Sign-in and sign-out. The login form is protected against login CSRF with a double-submit token: a random
 * value in a short-lived cookie (path /dashboard/login) that the form must echo.
 */
export const SESSION_COOKIE = "vf_session";
const LOGIN_COOKIE = "vf_login";

function secure(ctx: AppContext): string {
  return ctx.config.server.public_url?.startsWith("https:") ? "; Secure" : "";
}

export function sessionCookie(ctx: AppContext, token: string): string {
  return `${SESSION_COOKIE}=${token}; Path=/dashboard; HttpOnly; SameSite=Lax; Max-Age=${SESSION_TTL_MS / 1000}${secure(ctx)}`;
}

function clearedCookie(ctx: AppContext, name: string, path: string): string {
  return `${name}=; Path=${path}; HttpOnly; SameSite=Lax; Max-Age=0${secure(ctx)}`;
}

function loginPage(ctx: AppContext, status: number, error?: string, headers: Record<string, string> = {}): Response {
  const token = randomSecret();
  const body = html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sign in · Vibefollow</title><style>${STYLE} .login{max-width:340px;margin:80px auto;background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:20px} .login input{width:100%}</style></head>
<body><div class="login"><h1>Vibefollow</h1>
${error ? html`<div class="error" role="alert">${error}</div>` : ""}
<form method="post" action="/dashboard/login">
<input type="hidden" name="_csrf" value="${token}">
<label for="username">Name</label><input type="text" id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<div class="row"><button type="submit" class="primary">Sign in</button></div>
</form></div></body></html>`;
  return htmlResponse(body, status, {
    ...headers,
    "set-cookie": `${LOGIN_COOKIE}=${token}; Path=/dashboard/login; HttpOnly; SameSite=Strict; Max-Age=3600${secure(ctx)}`,
  });
}

export function showLogin(ctx: AppContext): Response {
  return loginPage(ctx, 200);
}

export async function submitLogin(ctx: AppContext, request: Request, throttle: LoginThrottle): Promise<Response> {
  const form = await readForm(request);
  const cookie = parseCookies(request.headers.get("cookie"))[LOGIN_COOKIE];
  if (!sameToken(form.get("_csrf"), cookie)) return loginPage(ctx, 403, "The form expired. Please sign in again.");
  const username = (form.get("username") ?? "").trim();
  const password = form.get("password") ?? "";
  const wait = throttle.blockedFor(username);
  if (wait > 0) {
    const minutes = Math.ceil(wait / 60_000);
    return loginPage(ctx, 429, `Too many failed sign-ins for this name. Try again in ${minutes} minute${minutes === 1 ? "" : "s"}.`, {
      "retry-after": String(Math.ceil(wait / 1000)),
    });
  }
  const account = username && password ? await verifyAdmin(ctx.database, username, password) : undefined;
  if (!account) {
    throttle.fail(username);
    return loginPage(ctx, 401, "Wrong name or password.");
  }
  throttle.succeed(username);
  const { token } = await createSession(ctx.database, account.id);
  const headers = new Headers({ location: "/dashboard" });
  headers.append("set-cookie", sessionCookie(ctx, token));
  headers.append("set-cookie", clearedCookie(ctx, LOGIN_COOKIE, "/dashboard/login"));
  return new Response(null, { status: 303, headers });
}

export async function logout(ctx: AppContext, session: Session): Promise<Response> {
  await deleteSession(ctx.database, session.id);
  return redirect("/dashboard/login", { "set-cookie": clearedCookie(ctx, SESSION_COOKIE, "/dashboard") });
}
