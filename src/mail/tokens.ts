import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { InStatement, ResultSet } from "@libsql/client";

/** Anything that runs a statement: a transaction or the database. */
export type Executor = { execute(statement: InStatement): Promise<ResultSet> };

const SECRET_KEY = "mail_link_secret";

/**
 * The server secret that signs unsubscribe and tracking links. Created on first use and kept in `meta`, so links
 * in mail already sent keep working across restarts. `INSERT OR IGNORE` makes two first uses agree.
 */
export async function loadLinkSecret(executor: Executor): Promise<string> {
  await executor.execute({ sql: "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", args: [SECRET_KEY, randomBytes(32).toString("hex")] });
  const rows = (await executor.execute({ sql: "SELECT value FROM meta WHERE key = ?", args: [SECRET_KEY] })).rows;
  return String(rows[0]!.value);
}

function sign(secret: string, purpose: string, payload: string): string {
  return createHmac("sha256", secret).update(`${purpose}\0${payload}`).digest("base64url").slice(0, 22);
}

function verify(secret: string, purpose: string, payload: string, signature: string): boolean {
  const expected = Buffer.from(sign(secret, purpose, payload));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export type UnsubscribeTarget = { projectId: string; userId: number; test: boolean };

/** A per-recipient token: `base64url(project:user[:t]).signature`. Test sends get a token that changes nothing. */
export function unsubscribeToken(secret: string, target: UnsubscribeTarget): string {
  const payload = `${target.projectId}:${target.userId}${target.test ? ":t" : ""}`;
  return `${Buffer.from(payload).toString("base64url")}.${sign(secret, "unsubscribe", payload)}`;
}

export function readUnsubscribeToken(secret: string, token: string): UnsubscribeTarget | undefined {
  const m = /^([A-Za-z0-9_-]{1,200})\.([A-Za-z0-9_-]{22})$/.exec(token);
  if (!m) return undefined;
  const payload = Buffer.from(m[1]!, "base64url").toString("utf8");
  if (!verify(secret, "unsubscribe", payload, m[2]!)) return undefined;
  const parts = /^([a-z0-9][a-z0-9_-]{0,63}):(\d+)(:t)?$/.exec(payload);
  if (!parts) return undefined;
  return { projectId: parts[1]!, userId: Number(parts[2]), test: parts[3] !== undefined };
}

/** A tracking token for one message (`open`) or one link of it (`click:N`). */
export function trackingToken(secret: string, messageId: string, what: string): string {
  return `${messageId}.${what}.${sign(secret, "track", `${messageId}:${what}`)}`;
}

export function readTrackingToken(secret: string, token: string): { messageId: string; what: string } | undefined {
  const m = /^(msg_[0-9a-z]{1,40})\.(open|click-\d{1,4})\.([A-Za-z0-9_-]{22})$/.exec(token);
  if (!m) return undefined;
  if (!verify(secret, "track", `${m[1]}:${m[2]}`, m[3]!)) return undefined;
  return { messageId: m[1]!, what: m[2]! };
}

/** The base of links in emails: `server.public_url`, else the listen address. */
export function publicBase(config: { server: { listen: string; public_url?: string } }): string {
  return (config.server.public_url ?? `http://${config.server.listen}`).replace(/\/+$/, "");
}
