import { LibsqlError, type Client, type InArgs, type InStatement, type InValue, type ResultSet, type Transaction } from "@libsql/client";
import Sqlite from "libsql";

/**
 * A libSQL connection with a prepared-statement cache, shaped like the part of `@libsql/client`'s Client the
 * write thread uses (`execute`, `batch`, `transaction("write")`, `close`). `@libsql/client` prepares every
 * statement on every call: for an ingest group commit that was half of the thread's CPU (289 µs against 152 µs
 * per 30-row commit, measured in isolation), and the thread's CPU is taken from the main thread on two cores.
 * Results follow `@libsql/client` with `intMode: "number"`: rows carry their values by index and by column
 * name, integers are numbers (an unsafe one is an error), errors are `LibsqlError`s with SQLite's code.
 *
 * Only for the write thread (src/db/thread-worker.ts), where one connection runs everything in order.
 */

/** Distinct statements kept prepared; the write thread's SQL texts are few and fixed, audiences' per config. */
const CACHE_SIZE = 256;

type Statement = ReturnType<InstanceType<typeof Sqlite>["prepare"]>;

export function openCachedClient(path: string, busyTimeoutMs: number): Client {
  const db = new Sqlite(path, { timeout: busyTimeoutMs });
  const cache = new Map<string, { stmt: Statement; reader: boolean }>();

  const prepare = (sql: string) => {
    let entry = cache.get(sql);
    if (entry) {
      cache.delete(sql); // most recently used goes last
      cache.set(sql, entry);
      return entry;
    }
    const stmt = db.prepare(sql);
    stmt.safeIntegers(true);
    let reader = true;
    try {
      stmt.raw(true);
    } catch {
      reader = false; // raw() throws for a statement that returns no data
    }
    entry = { stmt, reader };
    cache.set(sql, entry);
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
    return entry;
  };

  const execute = (statement: InStatement): ResultSet => {
    const sql = typeof statement === "string" ? statement : statement.sql;
    const args = typeof statement === "string" ? [] : toArgs(statement.args);
    try {
      const { stmt, reader } = prepare(sql);
      if (reader) {
        // Read per call, not cached with the statement: after a schema change `SELECT *` may return others.
        const defs = stmt.columns();
        const columns = defs.map((c) => c.name);
        const types = defs.map((c) => c.type ?? "");
        const rows = (stmt.all(args) as unknown[][]).map((values) => toRow(values, columns));
        return result(columns, types, rows, 0, undefined);
      }
      const info = stmt.run(args);
      return result([], [], [], info.changes, BigInt(info.lastInsertRowid));
    } catch (e) {
      throw toLibsqlError(e);
    }
  };

  const inTransaction = <T>(work: () => T): T => {
    execute("BEGIN IMMEDIATE");
    try {
      const out = work();
      execute("COMMIT");
      return out;
    } catch (e) {
      if (db.inTransaction) execute("ROLLBACK");
      throw e;
    }
  };

  const client = {
    async execute(statement: InStatement) {
      return execute(statement);
    },
    async batch(statements: InStatement[]) {
      return inTransaction(() => statements.map(execute));
    },
    async transaction() {
      execute("BEGIN IMMEDIATE");
      let open = true;
      const end = (sql: string) => {
        if (!open) return;
        open = false;
        if (db.inTransaction) execute(sql);
      };
      const tx = {
        async execute(statement: InStatement) {
          if (!open) throw new LibsqlError("The transaction is closed", "TRANSACTION_CLOSED");
          return execute(statement);
        },
        async batch(statements: InStatement[]) {
          return statements.map((s) => execute(s));
        },
        async commit() {
          end("COMMIT");
        },
        async rollback() {
          end("ROLLBACK");
        },
        close() {
          end("ROLLBACK");
        },
        get closed() {
          return !open;
        },
      };
      return tx as unknown as Transaction;
    },
    close() {
      cache.clear();
      db.close();
    },
    get closed() {
      return !db.open;
    },
  };
  return client as unknown as Client;
}

function toArgs(args: InArgs | undefined): unknown[] | Record<string, unknown> {
  if (args === undefined) return [];
  if (Array.isArray(args)) return args.map(toSql);
  const named: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(args as Record<string, InValue>)) {
    named[name[0] === "@" || name[0] === "$" || name[0] === ":" ? name.slice(1) : name] = toSql(value);
  }
  return named;
}

/** As `@libsql/client` converts arguments. */
function toSql(value: InValue | undefined): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) throw new RangeError("Only finite numbers (not Infinity or NaN) can be passed as arguments");
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (value instanceof Date) return value.valueOf();
  if (value === undefined) throw new TypeError("undefined cannot be passed as argument to the database");
  return value;
}

/** As `@libsql/client` builds a row: values by index (not enumerable) and by column name. */
function toRow(values: unknown[], columns: string[]): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  Object.defineProperty(row, "length", { value: values.length });
  for (let i = 0; i < values.length; i++) {
    const value = fromSql(values[i]);
    Object.defineProperty(row, i, { value });
    const column = columns[i]!;
    if (!Object.hasOwn(row, column)) Object.defineProperty(row, column, { value, enumerable: true, configurable: true, writable: true });
  }
  return row;
}

function fromSql(value: unknown): unknown {
  if (typeof value === "bigint") {
    if (value < -9007199254740991n || value > 9007199254740991n) throw new RangeError("Received integer which cannot be safely represented as a JavaScript number");
    return Number(value);
  }
  if (value instanceof Buffer) return value.buffer;
  return value;
}

function result(columns: string[], columnTypes: string[], rows: Record<string, unknown>[], rowsAffected: number, lastInsertRowid: bigint | undefined): ResultSet {
  return {
    columns,
    columnTypes,
    rows: rows as unknown as ResultSet["rows"],
    rowsAffected,
    lastInsertRowid,
    toJSON: () => ({ columns, columnTypes, rows, rowsAffected, lastInsertRowid: lastInsertRowid?.toString() ?? null }),
  };
}

/** SQLite's errors as `@libsql/client` reports them: a LibsqlError whose code is the base code. */
function toLibsqlError(e: unknown): unknown {
  if (!(e instanceof Sqlite.SqliteError)) return e;
  const err = e as Error & { code: string; rawCode?: number };
  const code = err.code.match(/^SQLITE_[A-Z]+/)?.[0] ?? err.code;
  return new LibsqlError(err.message, code, err.code, err.rawCode, err);
}
