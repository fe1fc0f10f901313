import { join } from "node:path";
import { pathToFileURL } from "node:url";

export type Row = Record<string, unknown>;

/** A read-only view of the server's database file, for asserting what the normaliser stored. */
export interface DbReader {
  all(sql: string, args?: Array<string | number>): Promise<Row[]>;
  close(): void;
}

// The slice of @libsql/client used here; the package lives in the repo root, not in the SDK's dependencies.
interface LibsqlClient {
  execute(stmt: { sql: string; args: Array<string | number> } | string): Promise<{ rows: Row[] }>;
  close(): void;
}
interface LibsqlModule {
  createClient(config: { url: string; concurrency?: number }): LibsqlClient;
}

/** The module file the root's @libsql/client resolves to under Node and Bun alike. */
export function libsqlEntry(root: string): string {
  return join(root, "node_modules/@libsql/client/lib-esm/node.js");
}

/**
 * Opens `dbPath` with the repo root's @libsql/client (by absolute path, so the SDK needs no such dependency).
 * libsql has no read-only open flag, so the single connection (`concurrency: 1`, which makes per-connection
 * PRAGMAs stick) is switched to `query_only`: any write from a test would fail instead of touching the data.
 */
export async function openDbReader(root: string, dbPath: string): Promise<DbReader> {
  const mod = (await import(pathToFileURL(libsqlEntry(root)).href)) as LibsqlModule;
  const client = mod.createClient({ url: pathToFileURL(dbPath).href, concurrency: 1 });
  await client.execute("PRAGMA query_only = ON");
  await client.execute("PRAGMA busy_timeout = 5000");
  return {
    async all(sql, args = []) {
      const rs = await client.execute({ sql, args });
      // Plain objects: libsql rows also expose columns by index, which deepEqual would trip over.
      return rs.rows.map((r) => ({ ...r }));
    },
    close: () => client.close(),
  };
}

/** Polls `probe` until it returns a value other than undefined, or throws with `what` after `timeoutMs`. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Waits until the normaliser has drained the ingest queue, so what the API accepted is in `events` /
 * `tracked_users` (or quarantined) and counting rows is meaningful.
 */
export async function waitForNormaliser(db: DbReader, timeoutMs = 10_000): Promise<void> {
  await waitUntil(
    "the normaliser to drain ingest_queue",
    async () => {
      const [row] = await db.all("SELECT count(*) AS n FROM ingest_queue");
      return Number(row?.n) === 0 ? true : undefined;
    },
    timeoutMs,
  );
}
