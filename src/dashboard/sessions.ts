import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Database } from "../db/client";
import { now } from "../lib/clock";
import { newId } from "../lib/ids";
import type { Role } from "./accounts";

/**
 * Dashboard sessions (SPEC §11): a 256-bit random token in an HttpOnly cookie; the database keeps only its
 * SHA-256 with an absolute expiry, so stealing the file yields no usable session, and logout or expiry ends it
 * server-side. Each session has its own CSRF token, checked on every POST.
 */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export type Session = { id: string; adminId: string; username: string; role: Role; csrfToken: string; expiresAt: number };

export function randomSecret(): string {
  return randomBytes(32).toString("base64url");
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Starts a session for an account; returns the cookie token (shown to nobody else, stored nowhere). */
export async function createSession(database: Database, adminId: string): Promise<{ token: string; expiresAt: number }> {
  const token = randomSecret();
  const t = now();
  const expiresAt = t + SESSION_TTL_MS;
  await database.batch([
    // Expired sessions are swept at each login: the table stays as small as the set of live sessions.
    { sql: "DELETE FROM dashboard_sessions WHERE expires_at <= ?", args: [t] },
    {
      sql: "INSERT INTO dashboard_sessions (id, token_hash, admin_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
      args: [newId("ses"), hashToken(token), adminId, randomSecret(), t, expiresAt],
    },
  ]);
  return { token, expiresAt };
}

/** The live session for a cookie token, with its account (a removed account ends its sessions). */
export async function loadSession(database: Database, token: string | undefined): Promise<Session | undefined> {
  if (!token || token.length > 200) return undefined;
  const rs = await database.read({
    sql: `SELECT s.id, s.admin_id, s.csrf_token, s.expires_at, a.username, a.role
          FROM dashboard_sessions s JOIN admin_users a ON a.id = s.admin_id
          WHERE s.token_hash = ? AND s.expires_at > ?`,
    args: [hashToken(token), now()],
  });
  const r = rs.rows[0];
  if (!r) return undefined;
  return {
    id: String(r.id),
    adminId: String(r.admin_id),
    username: String(r.username),
    role: String(r.role) === "admin" ? "admin" : "viewer",
    csrfToken: String(r.csrf_token),
    expiresAt: Number(r.expires_at),
  };
}

export async function deleteSession(database: Database, id: string): Promise<void> {
  await database.execute({ sql: "DELETE FROM dashboard_sessions WHERE id = ?", args: [id] });
}

/** Constant-time comparison of two tokens (a CSRF check must not leak how many characters matched). */
export function sameToken(a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
