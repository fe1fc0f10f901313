import { afterAll, beforeAll, expect, test } from "bun:test";
import { createClient, type Client, type ResultSet } from "@libsql/client";
import { join } from "node:path";
import { openCachedClient } from "../../src/db/cached-client";
import { tempDir } from "../support/harness";

/**
 * The write thread's connection (src/db/cached-client.ts) must answer exactly as `@libsql/client` does — the
 * normaliser's code runs on both. Each check runs the same statements through both, on the same file.
 */

const tmp = tempDir();
const file = join(tmp.dir, "cached.db");
let reference: Client;
let cached: Client;

beforeAll(async () => {
  reference = createClient({ url: `file:${file}` });
  await reference.execute("PRAGMA journal_mode = WAL");
  await reference.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER, r REAL, b BLOB)");
  cached = openCachedClient(file, 5000);
});
afterAll(() => {
  cached.close();
  reference.close();
  tmp.cleanup();
});

/** What a caller can observe of a result set: values by index and by name, and the counters. */
function observe(rs: ResultSet) {
  return {
    columns: rs.columns,
    rows: rs.rows.map((row) => ({ byIndex: Array.from({ length: rs.columns.length }, (_, i) => row[i]), byName: { ...row }, length: row.length })),
    rowsAffected: rs.rowsAffected,
    lastInsertRowid: rs.lastInsertRowid,
  };
}

test("reads and writes give the same result sets: values by index and by name, counters, types", async () => {
  const insert = { sql: "INSERT INTO t (name, n, r, b) VALUES (?, ?, ?, ?)", args: ["a", 9_007_199_254_740_991, 1.5, new Uint8Array([1, 2, 3])] };
  const a = await reference.execute(insert);
  const b = await cached.execute({ ...insert, args: ["b", 2, 0.25, null] });
  expect(b.rowsAffected).toBe(a.rowsAffected);
  expect(typeof b.lastInsertRowid).toBe("bigint");
  expect(b.lastInsertRowid).toBe(a.lastInsertRowid! + 1n);
  for (const sql of ["SELECT * FROM t ORDER BY id", "SELECT count(*) AS n, json_group_array(name) AS j FROM t", "SELECT id, id AS id FROM t ORDER BY id", "SELECT 1 WHERE 0"]) {
    const expected = observe(await reference.execute(sql));
    expect(observe(await cached.execute(sql))).toEqual(expected);
  }
  // Named arguments and booleans, converted as the client converts them.
  const named = { sql: "SELECT :x AS x, $y AS y, @z AS z", args: { ":x": true, $y: false, z: "s" } };
  expect(observe(await cached.execute(named))).toEqual(observe(await reference.execute(named)));
});

test("errors are LibsqlErrors with SQLite's base code, as from the client", async () => {
  const dup = { sql: "INSERT INTO t (name) VALUES ('a')", args: [] };
  const expected = await reference.execute(dup).catch((e) => e);
  const got = await cached.execute(dup).catch((e) => e);
  expect(got.name).toBe(expected.name);
  expect(got.code).toBe(expected.code);
  expect(got.code).toBe("SQLITE_CONSTRAINT");
  expect(got.message).toBe(expected.message);
  const unsafe = await cached.execute("SELECT 9007199254740993 AS big").catch((e) => e);
  expect(unsafe).toBeInstanceOf(RangeError); // as the client with intMode "number"
  expect(await cached.execute({ sql: "SELECT ?", args: [undefined as never] }).catch((e) => e)).toBeInstanceOf(TypeError);
});

test("batch is one transaction: all or nothing", async () => {
  const before = Number((await reference.execute("SELECT count(*) AS n FROM t")).rows[0]!.n);
  const failed = await cached.batch([{ sql: "INSERT INTO t (name) VALUES ('c')", args: [] }, { sql: "INSERT INTO t (name) VALUES ('a')", args: [] }], "write").catch((e) => e);
  expect(failed.code).toBe("SQLITE_CONSTRAINT");
  expect(Number((await reference.execute("SELECT count(*) AS n FROM t")).rows[0]!.n)).toBe(before);
  const done = await cached.batch([{ sql: "INSERT INTO t (name) VALUES ('c')", args: [] }, "SELECT name FROM t WHERE name = 'c'"], "write");
  expect(done[1]!.rows[0]!.name).toBe("c");
  expect(Number((await reference.execute("SELECT count(*) AS n FROM t")).rows[0]!.n)).toBe(before + 1);
});

test("a transaction commits, rolls back, and refuses statements once closed", async () => {
  const count = async () => Number((await reference.execute("SELECT count(*) AS n FROM t")).rows[0]!.n);
  const before = await count();
  const tx = await cached.transaction("write");
  await tx.execute("INSERT INTO t (name) VALUES ('d')");
  await tx.rollback();
  expect(await count()).toBe(before);
  expect((await tx.execute("SELECT 1").catch((e) => e)).code).toBe("TRANSACTION_CLOSED");
  const tx2 = await cached.transaction("write");
  await tx2.execute("INSERT INTO t (name) VALUES ('d')");
  await tx2.commit();
  tx2.close(); // after commit: nothing to undo
  expect(await count()).toBe(before + 1);
});

test("statements stay prepared, and a table changed under them is seen (SQLite re-prepares)", async () => {
  const sql = "SELECT name FROM t WHERE name = ?";
  expect((await cached.execute({ sql, args: ["d"] })).rows).toHaveLength(1);
  await reference.execute("ALTER TABLE t ADD COLUMN extra TEXT DEFAULT 'x'");
  expect((await cached.execute({ sql, args: ["d"] })).rows[0]!.name).toBe("d");
  expect((await cached.execute("SELECT extra FROM t LIMIT 1")).rows[0]!.extra).toBe("x");
  // More distinct statements than the cache holds: the oldest are dropped and prepared again when used.
  for (let i = 0; i < 300; i++) await cached.execute(`SELECT ${i} AS v`);
  expect((await cached.execute({ sql, args: ["d"] })).rows).toHaveLength(1);
});
