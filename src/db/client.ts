import { AsyncLocalStorage } from "node:async_hooks";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createClient, type Client, type InStatement, type ResultSet, type Transaction as LibsqlTransaction, type TransactionMode } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import type { Config } from "../config/schema";
import { Mutex } from "../lib/mutex";
import * as schema from "./schema";

export type Db = LibSQLDatabase<typeof schema>;

/** Set while a `write()` or `exclusive()` runs, so a nested use of the write connection fails loudly instead of
 * deadlocking. The marker is switched off when the write ends: a timer scheduled inside a write inherits the
 * async context, and must not be refused the database later. */
const insideWrite = new AsyncLocalStorage<{ active: boolean }>();

function inWriteScope<T>(work: () => Promise<T>): Promise<T> {
  const marker = { active: true };
  return insideWrite.run(marker, work).finally(() => (marker.active = false));
}

/**
 * The database: one libSQL connection for every write (DESIGN "one writer"), so there are no SQLITE_BUSY
 * surprises, and a second one for reads that must not wait behind writers (dashboard, metrics).
 *
 * libSQL's local calls run synchronously under their promises, so a single statement or `batch` is atomic with
 * respect to the rest of the process. A multi-step transaction (`write`) awaits between statements, so it
 * takes the write lock for its whole life.
 *
 * The write client has exactly one connection (`concurrency: 1`), so the per-connection PRAGMAs below hold for
 * every write. While a transaction holds that connection, libSQL *rejects* (does not queue) any other call on
 * it — so every path to it, `db` (drizzle) included, goes through the same FIFO lock.
 */
export class Database {
  readonly db: Db;
  readonly readDb: Db;
  private readonly lock = new Mutex();

  constructor(
    readonly client: Client,
    readonly readClient: Client,
    readonly url: string,
    /** The write connection's `synchronous` setting, as opened (`database.synchronous`). */
    readonly synchronous: "full" | "normal" = "full",
  ) {
    this.db = drizzle(lockedClient(client, this.lock), { schema });
    this.readDb = drizzle(readClient, { schema });
  }

  /** Runs `work` inside one write transaction, alone. A throw rolls everything back. Inside `work` use `tx`
   * (or `drizzle(tx)`), never `database.db`/`execute` — those wait for this very transaction. */
  write<T>(work: (tx: LibsqlTransaction) => Promise<T>): Promise<T> {
    const nested = nestedWriteError();
    if (nested) return Promise.reject(nested);
    return this.lock.run(async () => {
      const tx = await this.client.transaction("write");
      try {
        const result = await inWriteScope(() => work(tx));
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

  /**
   * Holds the write lock while `work` runs, handing it the raw write client. For a writer that commits through
   * a connection of its own (the write thread, src/db/write-thread.ts): holding the lock keeps its transactions
   * from ever meeting this connection's.
   */
  exclusive<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const nested = nestedWriteError();
    if (nested) return Promise.reject(nested);
    return this.lock.run(() => inWriteScope(() => work(this.client)));
  }

  /** Writes waiting for the write lock right now (the normaliser keeps its batches short while ingest waits). */
  get writersWaiting(): number {
    return this.lock.waiting;
  }

  /** Runs statements as one transaction, alone. */
  batch(statements: InStatement[]): Promise<ResultSet[]> {
    const nested = nestedWriteError();
    if (nested) return Promise.reject(nested);
    return this.lock.run(() => this.client.batch(statements, "write"));
  }

  /** Runs a single statement after any transaction in flight. */
  execute(statement: InStatement): Promise<ResultSet> {
    const nested = nestedWriteError();
    if (nested) return Promise.reject(nested);
    return this.lock.run(() => this.client.execute(statement));
  }

  /** Reads on the read connection (never waits for the write lock; sees committed data). */
  read(statement: InStatement): Promise<ResultSet> {
    return this.readClient.execute(statement);
  }

  close(): void {
    this.client.close();
    if (this.readClient !== this.client) this.readClient.close();
  }

  /**
   * Waits for the write in flight (and any queued behind it), then closes: what a clean shutdown wants. A file
   * database is checkpointed first, so after a clean stop the `.db` file alone holds everything (libSQL leaves
   * the WAL in place on close, and an operator copying only the `.db` file would otherwise miss recent commits).
   */
  closeWhenIdle(): Promise<void> {
    return this.lock.run(async () => {
      if (this.url.startsWith("file:")) await this.client.execute("PRAGMA wal_checkpoint(TRUNCATE)").catch(() => undefined);
      this.close();
    });
  }
}

/** The error for a use of the write connection from inside `write()`, or undefined when the use is fine. */
function nestedWriteError(): Error | undefined {
  if (!insideWrite.getStore()?.active) return undefined;
  return new Error("database.write(): use the transaction handed to the callback, not the database (that would wait for itself)");
}

/**
 * The write client as drizzle sees it: single statements and batches queue on the write lock, and a drizzle
 * `db.transaction()` holds the lock from BEGIN until commit, rollback or close.
 */
function lockedClient(client: Client, lock: Mutex): Client {
  const locked = <T>(work: () => Promise<T>): Promise<T> => {
    const nested = nestedWriteError();
    return nested ? Promise.reject(nested) : lock.run(work);
  };
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === "execute") return (...a: Parameters<Client["execute"]>) => locked(() => (target.execute as any)(...a));
      if (prop === "batch") return (...a: Parameters<Client["batch"]>) => locked(() => target.batch(...a));
      if (prop === "migrate") return (...a: Parameters<Client["migrate"]>) => locked(() => target.migrate(...a));
      if (prop === "transaction") return (mode?: TransactionMode) => holdForTransaction(target, lock, mode);
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function holdForTransaction(client: Client, lock: Mutex, mode: TransactionMode = "write"): Promise<LibsqlTransaction> {
  const nested = nestedWriteError();
  if (nested) return Promise.reject(nested);
  return new Promise((resolveTx, rejectTx) => {
    void lock.run(
      () =>
        new Promise<void>((release) => {
          client.transaction(mode).then((tx) => {
            const end = <A extends unknown[], R>(fn: (...a: A) => R) => (...a: A): R => {
              const out = fn(...a);
              if (out instanceof Promise) out.finally(release).catch(() => undefined);
              else release();
              return out;
            };
            tx.commit = end(tx.commit.bind(tx));
            tx.rollback = end(tx.rollback.bind(tx));
            tx.close = end(tx.close.bind(tx));
            resolveTx(tx);
          }, (e) => {
            release();
            rejectTx(e);
          });
        }),
    );
  });
}

export type Transaction = Parameters<Parameters<Database["write"]>[0]>[0];

/** The page cache of every write connection (this one, and the write thread's: src/db/write-thread.ts). */
export const WRITER_CACHE_KIB = 65_536;
export const WAL_CHECKPOINT_PAGES = 10_000;
/**
 * journal_size_limit: the WAL file is cut back to this size when it starts over, and the write thread makes it
 * start over once it outgrows it (src/db/write-thread.ts `restartWal`). In a first version at 64 MiB that
 * happened every few seconds at full ingest speed (each time cutting the file back, freeing its blocks):
 * 500-event batches fell from ~475k to 170–240k events/s and the full-speed p99 of single events rose from ~10
 * to ~15 ms; at 256 MiB, batches ran at 377k / 395k events/s (interleaved runs, docs/benchmarks.md).
 */
export const WAL_SIZE_LIMIT_BYTES = 256 * 1024 * 1024;

/** Opens (creating the directory of) the configured database and sets its pragmas. */
export async function openDatabase(config: Config["database"]): Promise<Database> {
  const url = normaliseUrl(config.url);
  const path = filePathOf(url);
  const isFile = path !== undefined;
  const isNew = isFile && !existsSync(path);
  if (isFile) mkdirSync(dirname(path), { recursive: true });
  // `timeout` is libSQL's busy timeout: it also covers a connection the pool might reopen behind our back.
  const open = () => createClient({ url, authToken: config.auth_token, concurrency: 1, timeout: Math.round(config.busy_timeout) });
  const client = open();
  const readClient = isFile ? open() : client;
  if (isFile) {
    // WAL lets readers run beside the writer; FULL makes every commit survive power loss (a 202 is a promise).
    // The file holds people's emails and names: a new one is readable by its owner only (SQLite gives the -wal
    // and -shm files the database file's permissions).
    if (isNew) chmodSync(path, 0o600);
    await switchToWal(client, config.busy_timeout);
    for (const c of [client, readClient]) {
      await c.execute(`PRAGMA busy_timeout = ${Math.round(config.busy_timeout)}`);
      await c.execute(`PRAGMA synchronous = ${config.synchronous === "full" ? "FULL" : "NORMAL"}`);
      await c.execute("PRAGMA foreign_keys = ON");
    }
    // The writer's workloads (normaliser batches, audience recomputes, the evaluator) touch user and index
    // pages all over the file: a 64 MiB page cache instead of SQLite's 2 MiB keeps them from re-reading the OS
    // cache. One batch dirties about 1,000 pages, so the default WAL auto-checkpoint would copy the same hot
    // pages after nearly every commit; every 10,000 pages copies each once per checkpoint.
    await client.execute(`PRAGMA cache_size = -${WRITER_CACHE_KIB}`);
    await client.execute(`PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
    // A burst (or checkpoints spaced out by the checkpoint thread) can grow the WAL file far beyond its steady
    // size; the file keeps its size after a checkpoint unless told to shrink when it restarts.
    await client.execute(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
  }
  return new Database(client, readClient, url, config.synchronous);
}

/**
 * Turning a new file into WAL takes an exclusive lock. When several connections open a new file at once (a
 * `serve` and a CLI command started together), each can hold the shared lock another needs gone; SQLite then
 * answers SQLITE_BUSY at once instead of calling the busy handler (waiting could deadlock). So: retry, with short
 * pauses, until the busy timeout has passed.
 */
async function switchToWal(client: Client, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
    try {
      await client.execute("PRAGMA journal_mode = WAL");
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== "SQLITE_BUSY" || Date.now() >= deadline) throw e;
      await Bun.sleep(pause);
    }
  }
}

/** The file of a `file:` URL (its query, if any, left out); undefined for a remote database. */
export function filePathOf(url: string): string | undefined {
  return url.startsWith("file:") ? url.slice("file:".length).split("?")[0] : undefined;
}

/** `file:./data/x.db` → an absolute `file:` URL, so the process's working directory can change safely. */
function normaliseUrl(url: string): string {
  if (!url.startsWith("file:")) return url;
  const path = url.slice("file:".length);
  return "file:" + resolve(path);
}
