import { Elysia } from "elysia";
import type { AppContext } from "../context";
import type { Database } from "../db/client";
import { escapeHtml } from "../lib/html";
import { now } from "../lib/clock";
import { log } from "../lib/log";
import { emitMailEvent, userFields } from "./events";
import { suppressUser } from "./suppress";
import { loadLinkSecret, readTrackingToken, readUnsubscribeToken, type UnsubscribeTarget } from "./tokens";

const secrets = new WeakMap<Database, Promise<string>>();

function secretOf(database: Database): Promise<string> {
  let s = secrets.get(database);
  if (!s) {
    s = loadLinkSecret(database);
    secrets.set(database, s);
    s.catch(() => secrets.delete(database));
  }
  return s;
}

const HTML_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
};

function page(status: number, title: string, body: string): Response {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>
<style>body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#222;line-height:1.5}button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}</style>
</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
  return new Response(html, { status, headers: HTML_HEADERS });
}

function maskEmail(email: string | null): string {
  if (!email) return "this address";
  const [local = "", domain = ""] = email.split("@");
  return `${local.slice(0, 2)}${"•".repeat(Math.max(1, Math.min(6, local.length - 2)))}@${domain}`;
}

async function target(ctx: AppContext, token: string): Promise<UnsubscribeTarget | undefined> {
  const t = readUnsubscribeToken(await secretOf(ctx.database), token);
  if (!t || !ctx.config.projects.some((p) => p.id === t.projectId)) return undefined;
  return t;
}

const INVALID = () => page(404, "This link is not valid", "<p>The unsubscribe link is incomplete or was not issued by this server.</p>");
/** The link of a test send, opened (GET) or posted: it unsubscribes nobody, and says so. */
const TEST_LINK = () => page(200, "This was a test email", "<p>Nothing changed: the link in a test send does not unsubscribe anyone.</p>");

/**
 * RFC 8058 one-click unsubscribe and the optional open/click tracking (SPEC §9).
 * `GET /u/:token` shows a confirmation page with a form; `POST /u/:token` (the form, or a mail client's
 * `List-Unsubscribe=One-Click` POST) suppresses the user for the project at once. Test-send tokens change nothing.
 */
export function mailRoutes(ctx: AppContext) {
  return new Elysia()
    .get("/u/:token", async ({ params }) => {
      const t = await target(ctx, params.token);
      if (!t) return INVALID();
      if (t.test) return TEST_LINK();
      const project = ctx.config.projects.find((p) => p.id === t.projectId)!;
      const user = (await ctx.database.read({ sql: "SELECT email, suppressed FROM tracked_users WHERE id = ? AND project_id = ?", args: [t.userId, t.projectId] })).rows[0];
      const name = escapeHtml(project.name);
      if (user && Number(user.suppressed)) return page(200, "You're unsubscribed", `<p>${escapeHtml(maskEmail(user.email as string | null))} gets no more emails from ${name}.</p>`);
      // The form has no action: it posts back to this very URL, whatever path public_url puts in front of /u/.
      return page(
        200,
        `Unsubscribe from ${project.name}?`,
        `<p>${escapeHtml(maskEmail((user?.email as string | null) ?? null))} will get no more emails from ${name}.</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
      );
    })
    .post(
      "/u/:token",
      async ({ params }) => {
        const t = await target(ctx, params.token);
        if (!t) return INVALID();
        const project = ctx.config.projects.find((p) => p.id === t.projectId)!;
        if (t.test) return TEST_LINK();
        const changed = await ctx.database.write(async (tx) => {
          const done = await suppressUser(tx, t.projectId, t.userId, "unsubscribed", "recipient");
          if (done?.changed) {
            await emitMailEvent(tx, { type: "email.unsubscribed", projectId: t.projectId, at: now(), data: await userFields(tx, t.userId) });
          }
          return done?.changed === true;
        });
        // Logged once, when it happens: a repeated click (or a mail client's retries) is not news.
        if (changed) log.info("unsubscribed", { project: t.projectId, userId: t.userId });
        return page(200, "You're unsubscribed", `<p>You will get no more emails from ${escapeHtml(project.name)}.</p>`);
      },
      { parse: "none" },
    )
    .get("/t/o/:token", async ({ params }) => {
      const t = readTrackingToken(await secretOf(ctx.database), params.token.replace(/\.gif$/, ""));
      // A forged or altered token is refused, as a bad click link is: only a pixel this server signed is served.
      if (t?.what !== "open") return new Response("Not found", { status: 404, headers: { "cache-control": "no-store" } });
      await recordEngagement(ctx, t.messageId, "open");
      return new Response(PIXEL, { headers: { "content-type": "image/gif", "cache-control": "no-store" } });
    })
    .get("/t/c/:token", async ({ params }) => {
      const t = readTrackingToken(await secretOf(ctx.database), params.token);
      if (!t || !t.what.startsWith("click-")) return INVALID();
      const row = (await ctx.database.read({ sql: "SELECT links FROM messages WHERE id = ?", args: [t.messageId] })).rows[0];
      const links = row ? (JSON.parse(String(row.links)) as string[]) : [];
      const url = links[Number(t.what.slice("click-".length))];
      // Only a URL this very message contains: the signed index cannot point anywhere else (no open redirect).
      if (!url || !/^https?:\/\//.test(url)) return INVALID();
      // As a header value it must be ASCII without CR/LF: the URL parser percent-encodes the rest of the text
      // (a link built from user data may hold "ü" or "\r\n") and drops tabs and newlines, as browsers do.
      const location = URL.canParse(url) ? new URL(url).href : undefined;
      if (!location) return INVALID();
      await recordEngagement(ctx, t.messageId, "click", url);
      return new Response(null, { status: 302, headers: { location, "cache-control": "no-store", "referrer-policy": "no-referrer" } });
    });
}

/** Counts an open or click on the message; the first of each kind is also an `email.opened` / `email.clicked` event. */
async function recordEngagement(ctx: AppContext, messageId: string, kind: "open" | "click", url?: string): Promise<void> {
  const [count, first] = kind === "open" ? ["open_count", "opened_at"] : ["click_count", "clicked_at"];
  await ctx.database.write(async (tx) => {
    const at = now();
    const row = (
      await tx.execute({
        sql: `UPDATE messages SET ${count} = ${count} + 1, ${first} = coalesce(${first}, ?) WHERE id = ? AND is_test = 0
              RETURNING ${count} AS n, project_id, user_id, draft_id`,
        args: [at, messageId],
      })
    ).rows[0];
    if (!row || Number(row.n) !== 1) return;
    const user = await userFields(tx, row.user_id === null ? null : Number(row.user_id));
    const data = { message_id: messageId, draft_id: row.draft_id, ...(url ? { url } : {}), ...user };
    await emitMailEvent(tx, { type: kind === "open" ? "email.opened" : "email.clicked", projectId: String(row.project_id), at, data });
  });
}

/** A transparent 1×1 GIF. */
const PIXEL = Uint8Array.from(atob("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"), (c) => c.charCodeAt(0));
