import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createClient, type Client, type InStatement, type ResultSet } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import type { Config } from "../config/schema";
import { Mutex } from "../lib/mutex";
import * as schema from "./schema";

export type Db = LibSQLDatabase<typeof schema>;

/**
 * The database: one libSQL connection for every write (DESIGN "one writer"), so there are no SQLITE_BUSY
 * surprises, and a second one for reads that must not wait behind writers (dashboard, metrics).
 *
 * libSQL's local calls run synchronously under their promises, so a single statement or `batch` is atomic with
 * respect to the rest of the process. A multi-step transaction (`write`) awaits between statements, so it
 * takes the write lock for its whole life.
 */
export class Database {
  readonly db: Db;
  readonly readDb: Db;
  private readonly lock = new Mutex();

  constructor(
    readonly client: Client,
    readonly readClient: Client,
    readonly url: string,
  ) {
    this.db = drizzle(client, { schema });
    this.readDb = drizzle(readClient, { schema });
  }

  /** Runs `work` inside one write transaction, alone. A throw rolls everything back. */
  write<T>(work: (tx: Client["transaction"] extends (...a: any) => Promise<infer X> ? X : never) => Promise<T>): Promise<T> {
    return this.lock.run(async () => {
      const tx = await this.client.transaction("write");
      try {
        const result = await work(tx);
        await tx.commit();
        return result;
      } catch (e) {
        await tx.rollback().catch(() => undefined);
        throw e;
      } finally {
        tx.close();
      }
    });
  }

  /** Runs statements as one transaction, alone. */
  batch(statements: InStatement[]): Promise<ResultSet[]> {
    return this.lock.run(() => this.client.batch(statements, "write"));
  }

  /** Runs a single statement after any transaction in flight. */
  execute(statement: InStatement): Promise<ResultSet> {
    return this.lock.run(() => this.client.execute(statement));
  }

  /** Reads on the read connection (never waits for the write lock; sees committed data). */
  read(statement: InStatement): Promise<ResultSet> {
    return this.readClient.execute(statement);
  }

  close(): void {
    this.client.close();
    this.readClient.close();
  }
}

export type Transaction = Parameters<Parameters<Database["write"]>[0]>[0];

/** Opens (creating the directory of) the configured database and sets its pragmas. */
export async function openDatabase(config: Config["database"]): Promise<Database> {
  const url = normaliseUrl(config.url);
  const isFile = url.startsWith("file:");
  if (isFile) mkdirSync(dirname(url.slice("file:".length)), { recursive: true });
  const open = () => createClient({ url, authToken: config.auth_token, concurrency: 1 });
  const client = open();
  const readClient = isFile ? open() : client;
  if (isFile) {
    // WAL lets readers run beside the writer; FULL makes every commit survive power loss (a 202 is a promise).
    await client.execute("PRAGMA journal_mode = WAL");
    for (const c of [client, readClient]) {
      await c.execute(`PRAGMA busy_timeout = ${Math.round(config.busy_timeout)}`);
      await c.execute(`PRAGMA synchronous = ${config.synchronous === "full" ? "FULL" : "NORMAL"}`);
      await c.execute("PRAGMA foreign_keys = ON");
    }
  }
  return new Database(client, readClient, url);
}

/** `file:./data/x.db` → an absolute `file:` URL, so the process's working directory can change safely. */
function normaliseUrl(url: string): string {
  if (!url.startsWith("file:")) return url;
  const path = url.slice("file:".length);
  return "file:" + resolve(path);
}
