import { join } from "node:path";
import { parseConfigText, type LoadedConfig } from "../../src/config/load";
import { startVibefollow, type Running } from "../../src/main";
import type { TestServer } from "../support/harness";

export type Row = Record<string, unknown>;

/** POSTs a raw string or a JSON value with the server's key (headers may override or remove with ""). */
export async function post(server: { url: string; apiKey: string }, path: string, body: unknown, headers: Record<string, string> = {}) {
  const h: Record<string, string> = { authorization: `Bearer ${server.apiKey}`, "content-type": "application/json", ...headers };
  for (const k of Object.keys(h)) if (h[k] === "") delete h[k];
  const res = await fetch(server.url + path, { method: "POST", headers: h, body: typeof body === "string" || body instanceof Uint8Array ? (body as BodyInit) : JSON.stringify(body) });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export async function queueRows(server: Pick<TestServer, "ctx">): Promise<Row[]> {
  const rs = await server.ctx.database.read("SELECT seq, project_id, kind, source, payload, received_at FROM ingest_queue ORDER BY seq");
  return rs.rows.map((r) => ({ ...r, payload: JSON.parse(String(r.payload)) }));
}

export async function count(server: Pick<TestServer, "ctx">, table: string): Promise<number> {
  const rs = await server.ctx.database.read(`SELECT count(*) AS n FROM ${table}`);
  return Number(rs.rows[0]!.n);
}

/** Starts (or restarts) a server over the database file in `dir`, background loops off. */
export function startOn(dir: string, toml = ""): Promise<Running> {
  const text = `[database]\nurl = "file:${join(dir, "vf.db")}"\n${toml}`;
  const loaded: LoadedConfig = { config: parseConfigText(text, "test.toml"), file: "test.toml", embeddedDefaults: false };
  return startVibefollow({ loaded, listen: "127.0.0.1:0", background: false });
}

export const event = (i = 0, extra: Row = {}) => ({ external_user_id: `u${i}`, name: "clicked_button", properties: { i }, ...extra });

/** Polls `condition` every few ms (up to `ms`, which only bounds a hang): for states reached by another part of the process. */
export async function waitFor(condition: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > end) throw new Error("condition not reached in time");
    await Bun.sleep(2);
  }
}

/** Takes the database's write lock and holds it until `release()` (as a long normaliser transaction would). */
export async function holdWriteLock(database: { write<T>(work: (tx: any) => Promise<T>): Promise<T> }) {
  let release!: () => void;
  let acquired!: () => void;
  const isHeld = new Promise<void>((r) => (acquired = r));
  const done = database.write(() => new Promise<void>((r) => ((release = r), acquired())));
  await isHeld;
  return { release: () => (release(), done) };
}
