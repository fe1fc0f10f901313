import { gzipSync } from "node:zlib";
import type { Database } from "../../src/db/client";
import { drainQueue } from "../../src/pipeline";
import { startTestServer, type TestServer } from "../support/harness";

export const PROJECT = "acme";
const CONFIG = `[[projects]]\nid = "${PROJECT}"\nname = "Acme"\nbuffer_ttl = "7d"\n`;

/** A real server over a real DB file, background loops off: tests drain the queue by hand. */
export function startSegmentServer(extra = ""): Promise<TestServer> {
  return startTestServer(CONFIG + extra, { background: false });
}

export const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString("base64")}`;

export type Sent = { status: number; json: any; headers: Headers };

/** POSTs to the server: a JSON value (or raw string/bytes), with HTTP Basic auth for `key` unless `auth` overrides it. */
export async function send(
  server: { url: string; apiKey: string },
  path: string,
  body: unknown,
  opts: { auth?: string | null; headers?: Record<string, string>; gzip?: boolean } = {},
): Promise<Sent> {
  const headers: Record<string, string> = { "content-type": "application/json", ...opts.headers };
  const auth = opts.auth === undefined ? basic(server.apiKey) : opts.auth;
  if (auth !== null) headers.authorization = auth;
  let raw: string | Uint8Array = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  if (opts.gzip) {
    raw = gzipSync(raw);
    headers["content-encoding"] = "gzip";
  }
  const res = await fetch(server.url + path, { method: "POST", headers, body: raw as BodyInit });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers };
}

export function drain(server: TestServer) {
  return drainQueue(server.ctx);
}

export async function rows(database: Database, sql: string, args: (string | number | null)[] = []): Promise<Record<string, any>[]> {
  const rs = await database.read({ sql, args });
  return rs.rows.map((r) => ({ ...r }) as Record<string, any>);
}

export async function count(database: Database, sql: string, args: (string | number | null)[] = []): Promise<number> {
  const rs = await database.read({ sql, args });
  return Number(rs.rows[0]!.n);
}

export async function userRow(database: Database, externalUserId: string): Promise<Record<string, any> | undefined> {
  return (await rows(database, "SELECT * FROM tracked_users WHERE project_id = ? AND external_user_id = ?", [PROJECT, externalUserId]))[0];
}

/** Events of one user (by external id), oldest row first, with properties and payload parsed. */
export async function eventsOf(database: Database, externalUserId: string): Promise<Record<string, any>[]> {
  const list = await rows(
    database,
    "SELECT e.name, e.occurred_at, e.received_at, e.properties, e.payload FROM events e JOIN tracked_users u ON u.id = e.user_id WHERE u.project_id = ? AND u.external_user_id = ? ORDER BY e.id",
    [PROJECT, externalUserId],
  );
  return list.map((e) => ({ ...e, properties: JSON.parse(e.properties), payload: JSON.parse(e.payload) }));
}

export const queueDepth = (database: Database) => count(database, "SELECT count(*) AS n FROM ingest_queue");

let seq = 0;
/** A unique messageId for a test message. */
export const mid = (label = "m") => `${label}-${process.pid}-${++seq}`;
