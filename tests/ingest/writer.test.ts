import { expect, spyOn, test } from "bun:test";
import { statSync } from "node:fs";
import Sqlite from "libsql";
import { join } from "node:path";
import { openDatabase } from "../../src/db/client";
import { ConnectionThread } from "../../src/db/connection-thread";
import { migrate } from "../../src/db/migrate";
import { WriteThread, walStats } from "../../src/db/write-thread";
import { GroupCommitWriter, groupOf, ingestWriterFor, type WriteJob } from "../../src/ingest";
import { buildStatements } from "../../src/ingest/commit-jobs";
import { createKey } from "../../src/keys/service";
import { startTestServer, tempDir } from "../support/harness";
import { event, holdWriteLock, post, queueRows, startOn, waitFor } from "./support";

// The group-commit writer: concurrent requests share commits; shutdown flushes what is pending.

test("concurrent requests are group-committed: what arrives together shares one commit", async () => {
  const server = await startTestServer("", { background: false });
  try {
    const writer = ingestWriterFor(server.ctx);
    const lock = await holdWriteLock(server.ctx.database);
    const before = { ...writer.stats };
    const requests = Array.from({ length: 100 }, (_, i) => post(server, "/api/v1/events", event(i)));
    await waitFor(() => writer.pendingJobs === 100);
    await lock.release();
    const results = await Promise.all(requests);
    expect(results.every((r) => r.status === 202)).toBe(true);
    expect(writer.stats.rows - before.rows).toBe(100);
    expect(writer.stats.commits - before.commits).toBe(1);
    const rows = await queueRows(server);
    expect(rows).toHaveLength(100);
    expect(new Set(rows.map((r) => (r.payload as any).properties.i)).size).toBe(100);
  } finally {
    await server.close();
  }
});

test("a commit carries at most commit_max_items rows, but never splits a batch", async () => {
  const server = await startTestServer(`[ingest]\ncommit_max_items = 120\n`, { background: false });
  try {
    const writer = ingestWriterFor(server.ctx);
    const lock = await holdWriteLock(server.ctx.database);
    const before = writer.stats.commits;
    const batch = (b: number) => post(server, "/api/v1/events/batch", { events: Array.from({ length: 100 }, (_, i) => event(b * 100 + i)) });
    const requests = [batch(0), batch(1), batch(2)];
    await waitFor(() => writer.pendingJobs === 3);
    await lock.release();
    expect((await Promise.all(requests)).map((r) => r.status)).toEqual([202, 202, 202]);
    expect(writer.stats.commits - before).toBe(3);
    expect(await queueRows(server)).toHaveLength(300);
  } finally {
    await server.close();
  }
});

test("a 202 is written only after the commit: while the database is held, the request waits", async () => {
  const server = await startTestServer("", { background: false });
  try {
    const lock = await holdWriteLock(server.ctx.database);
    let answered = false;
    const pending = post(server, "/api/v1/events", event(1)).then((r) => ((answered = true), r));
    await waitFor(() => ingestWriterFor(server.ctx).pendingJobs === 1);
    await Bun.sleep(20);
    expect(answered).toBe(false);
    await lock.release();
    expect((await pending).status).toBe(202);
    expect(await queueRows(server)).toHaveLength(1);
  } finally {
    await server.close();
  }
});

test("stop() flushes jobs still pending, then refuses new work", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const running = await startOn(dir);
    const writer = ingestWriterFor(running.ctx);
    const lock = await holdWriteLock(running.ctx.database);
    const jobs = Array.from({ length: 5 }, (_, i) =>
      writer.enqueue({ projectId: "default", source: "api", receivedAt: 1, groups: [groupOf("track", [JSON.stringify(event(i))])] }),
    );
    const stopping = running.stop();
    await lock.release();
    await stopping;
    await Promise.all(jobs);
    await expect(writer.enqueue({ projectId: "default", source: "api", receivedAt: 1, groups: [] })).rejects.toThrow();
    const again = await startOn(dir);
    expect(Number((await again.ctx.database.read("SELECT count(*) AS n FROM ingest_queue")).rows[0]!.n)).toBe(5);
    await again.stop();
  } finally {
    cleanup();
  }
});

test("the writer shares one write lock with everyone else: a batch and a queue consumer never interleave", async () => {
  const server = await startTestServer("", { background: false });
  try {
    await createKey(server.ctx.database, "default", "second");
    // A consumer that deletes what it sees in its own transaction, racing 20 batches of 50.
    let consumed = 0;
    const consumer = (async () => {
      for (let i = 0; i < 40; i++) {
        consumed += await server.ctx.database.write(async (tx) => {
          const rs = await tx.execute("SELECT count(*) AS n FROM ingest_queue");
          const n = Number(rs.rows[0]!.n);
          // Every batch is all or nothing, so what a transaction sees is always a multiple of 50.
          expect(n % 50).toBe(0);
          await tx.execute("DELETE FROM ingest_queue");
          return n;
        });
        await new Promise((r) => setImmediate(r));
      }
    })();
    const batches = await Promise.all(
      Array.from({ length: 20 }, (_, b) => post(server, "/api/v1/events/batch", { events: Array.from({ length: 50 }, (_, i) => event(b * 50 + i)) })),
    );
    await consumer;
    expect(batches.every((r) => r.status === 202)).toBe(true);
    expect(consumed + (await queueRows(server)).length).toBe(1000);
  } finally {
    await server.close();
  }
});

test("commits run on the commit thread; when it dies, ingest carries on committing on the main thread", async () => {
  const server = await startTestServer("", { background: false });
  try {
    const writer = ingestWriterFor(server.ctx);
    expect((await post(server, "/api/v1/events", event(1))).status).toBe(202);
    expect(writer.threaded).toBe(true);
    (writer as unknown as { thread: { kill(): void } }).thread.kill();
    await waitFor(() => !writer.threaded);
    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => post(server, "/api/v1/events", event(100 + i))));
    expect(after.map((r) => r.status)).toEqual(Array(20).fill(202));
    expect(writer.threaded).toBe(false);
    const ids = (await queueRows(server)).map((r) => (r.payload as { properties: { i: number } }).properties.i);
    expect(ids.sort((a, b) => a - b)).toEqual([1, ...Array.from({ length: 20 }, (_, i) => 100 + i)]);
  } finally {
    await server.close();
  }
});

test("a writer whose commit thread cannot start commits on the main thread", async () => {
  const server = await startTestServer("", { background: false });
  try {
    const writer = new GroupCommitWriter(server.ctx.database, { maxItems: 100, intervalMs: 0, startThread: () => Promise.reject(new Error("no threads here")) });
    await writer.enqueue({ projectId: "default", source: "api", receivedAt: 1, groups: [groupOf("track", [JSON.stringify(event(7))])] });
    expect(writer.threaded).toBe(false);
    expect((await queueRows(server)).map((r) => (r.payload as { properties: { i: number } }).properties.i)).toEqual([7]);
    await writer.stop();
  } finally {
    await server.close();
  }
});

/** A commit of one queue row holding `payload` (a JSON object's text). */
const queueJob = (payload: string): WriteJob => ({ projectId: "default", source: "api", receivedAt: 1, groups: [groupOf("track", [payload])] });

test("under commits back to back, the checkpoint thread still makes the WAL start over", async () => {
  const { dir, cleanup } = tempDir();
  const file = join(dir, "restart.db");
  const config = { url: `file:${file}`, synchronous: "normal", busy_timeout: 5000 } as never;
  const database = await openDatabase(config);
  const limit = 1024 * 1024;
  try {
    await migrate(database);
    await database.execute("PRAGMA wal_autocheckpoint = 0"); // as while the write thread is attached
    const thread = await WriteThread.start(database.url, config, { checkpointEveryMs: 50, walSizeLimit: limit, lock: database, walCheckEveryMs: 20 });
    const restarts = walStats.restarts;
    const payload = JSON.stringify({ external_user_id: "u", name: "big", properties: { blob: "x".repeat(100_000) } });
    // 100 kB commits with no pause between them: PASSIVE checkpoints alone seldom let the WAL start over, so it
    // would grow for as long as they last. How far it outgrows the limit before a restart depends on the disk (each
    // catch-up pass syncs the database file: with 50 ms syncs it passed 60 MB), so the commits go on until the WAL
    // has been seen to start over — cut back to the limit after outgrowing it, with a RESTART counted since the last
    // time (a PASSIVE pass may get lucky between two commits: that does not count) — twice. 200–500 commits here, and
    // ~500 with 200 ms syncs; the deadline and the 3,000-commit cap bound a hang.
    let commits = 0;
    let startedOver = 0;
    let outgrown = false;
    let counted = restarts;
    const deadline = performance.now() + 60_000;
    while (startedOver < 2) {
      if (performance.now() > deadline || commits >= 3_000) throw new Error(`the WAL started over ${startedOver} times in ${commits} commits`);
      await database.exclusive(() => thread.commit(buildStatements([queueJob(payload)], 0)));
      commits++;
      const size = statSync(`${file}-wal`).size;
      if (size > limit) outgrown = true;
      else if (outgrown) {
        outgrown = false;
        if (walStats.restarts > counted) (startedOver++, (counted = walStats.restarts));
      }
    }
    await thread.close();
    expect(walStats.restarts).toBeGreaterThan(restarts); // counted for /metrics
    expect(Number((await database.read("SELECT count(*) AS n FROM ingest_queue")).rows[0]!.n)).toBe(commits);
  } finally {
    database.close();
    cleanup();
  }
}, 90_000);

test("a reader that keeps the WAL in use makes the restart give up and wait, not stall every commit", async () => {
  const { dir, cleanup } = tempDir();
  const file = join(dir, "reader.db");
  const config = { url: `file:${file}`, synchronous: "normal", busy_timeout: 5000 } as never;
  const database = await openDatabase(config);
  const reader = new Sqlite(file);
  // Every RESTART try, with whether it stayed busy (a reader kept it waiting past its busy timeout).
  const tries: boolean[] = [];
  const realCheckpoint = ConnectionThread.prototype.checkpoint;
  const checkpoint = spyOn(ConnectionThread.prototype, "checkpoint").mockImplementation(async function (this: ConnectionThread, mode) {
    const busy = await realCheckpoint.call(this, mode);
    if (mode === "restart") tries.push(busy);
    return busy;
  });
  try {
    await migrate(database);
    await database.execute("PRAGMA wal_autocheckpoint = 0");
    const thread = await WriteThread.start(database.url, config, { checkpointEveryMs: 50, walSizeLimit: 1024 * 1024, lock: database, walCheckEveryMs: 20 });
    const payload = JSON.stringify({ external_user_id: "u", name: "big", properties: { blob: "x".repeat(100_000) } });
    const insert = () => database.exclusive(() => thread.commit(buildStatements([queueJob(payload)], 0)));
    await insert();
    reader.exec("BEGIN");
    reader.prepare("SELECT count(*) FROM ingest_queue").get(); // a read snapshot the RESTART must wait for
    // Commits go on back to back (100 of them, and until the first RESTART try has come back): each try holds
    // the lock for up to 250 ms while the reader stays, then gives up for 10 s (write-thread.ts RESTART_RETRY_MS).
    // Stalling every commit would mean a try for every few commits; the tries are counted, not the time taken,
    // which on a loaded machine depends on how slow each commit is.
    const started = performance.now();
    let commits = 0;
    while (commits < 100 || tries.length === 0) {
      if (performance.now() - started > 60_000 || commits >= 3_000) throw new Error(`no RESTART tried in ${commits} commits`);
      await insert();
      commits++;
    }
    const ms = performance.now() - started;
    reader.exec("COMMIT");
    await thread.close();
    expect(tries[0]).toBe(true); // the reader kept the RESTART waiting: it gave up
    expect(tries.length).toBeLessThanOrEqual(1 + Math.floor(ms / 10_000));
    expect(Number((await database.read("SELECT count(*) AS n FROM ingest_queue")).rows[0]!.n)).toBe(1 + commits);
  } finally {
    checkpoint.mockRestore();
    reader.close();
    database.close();
    cleanup();
  }
}, 90_000);

test("commit_thread = false keeps commits on the main thread", async () => {
  const server = await startTestServer(`[ingest]\ncommit_thread = false\n`, { background: false });
  try {
    expect((await post(server, "/api/v1/events", event(3))).status).toBe(202);
    expect(ingestWriterFor(server.ctx).threaded).toBe(false);
    expect(await queueRows(server)).toHaveLength(1);
  } finally {
    await server.close();
  }
});

test("the checkpoint thread copies committed pages into the database file, off the commit thread", async () => {
  const { dir, cleanup } = tempDir();
  const file = join(dir, "cp.db");
  const database = await openDatabase({ url: `file:${file}`, synchronous: "full", busy_timeout: 5000 });
  try {
    await migrate(database);
    await database.execute("PRAGMA wal_checkpoint(TRUNCATE)");
    const before = statSync(file).size;
    const config = { url: `file:${file}`, synchronous: "full", busy_timeout: 5000 } as never;
    // The commit runs on a write thread whose checkpoint thread has no timer: nothing but the commit itself could
    // have copied its pages into the file by the time the size is looked at, however late that is (a checkpoint
    // thread on a 100 ms timer sometimes got there first on a loaded machine).
    const committer = await WriteThread.start(database.url, config, { checkpointEveryMs: 0 });
    const counted = { ...walStats };
    const big = JSON.stringify({ external_user_id: "u", name: "big", properties: { blob: "x".repeat(2_000_000) } });
    await database.exclusive(() => committer.commit(buildStatements([queueJob(big)], 0)));
    expect(statSync(file).size).toBeLessThan(before + 1_000_000); // committed: in the WAL, not yet in the file
    // Then a checkpoint thread, on its timer, copies them.
    const thread = await WriteThread.start(database.url, config, { checkpointEveryMs: 100 });
    await waitFor(() => statSync(file).size > before + 1_500_000, 20_000);
    // The pass that copied them is counted (/metrics), and on Linux the copied pages were synced to disk right
    // after it (thread-worker.ts `passive`, flush-file.ts).
    await waitFor(() => walStats.passive > counted.passive, 20_000);
    if (process.platform === "linux") expect(walStats.flushes).toBeGreaterThan(counted.flushes);
    await thread.close();
    await committer.close();
    expect(Number((await database.read("SELECT length(payload) AS n FROM ingest_queue")).rows[0]!.n)).toBe(big.length);
  } finally {
    database.close();
    cleanup();
  }
}, 45_000);

/** Keyed jobs committed together: one key already stored (within 24 h), one stored but expired, three new. */
async function commitKeyedTogether(server: Awaited<ReturnType<typeof startTestServer>>) {
  const db = server.ctx.database;
  const now = Date.now();
  await db.execute({
    sql: "INSERT INTO idempotency_keys (project_id, key, request_hash, status, response_body, created_at) VALUES ('default', 'stored', 'h-stored', 202, '{\"stored\":1}', ?), ('default', 'expired', 'h-old', 202, '{\"old\":1}', ?)",
    args: [now - 60_000, now - 25 * 3_600_000],
  });
  const writer = ingestWriterFor(server.ctx);
  const lock = await holdWriteLock(db); // so that all five share one commit
  const job = (i: number, key?: string) =>
    writer.enqueue({
      projectId: "default",
      source: "api",
      receivedAt: now,
      groups: [groupOf("track", [JSON.stringify(event(i))])],
      ...(key ? { idempotency: { key, requestHash: `h-${key}-new`, status: 202, responseBody: `{"new":"${key}"}` } } : {}),
    });
  const results = [job(1, "stored"), job(2, "expired"), job(3, "fresh"), job(4), job(5, "other")];
  await waitFor(() => writer.pendingJobs === 5);
  const commits = writer.stats.commits;
  await lock.release();
  const stored = await Promise.all(results);
  expect(writer.stats.commits).toBe(commits + 1);
  // The stored key's job wrote nothing and got the stored record back; the others were committed.
  expect(stored).toEqual([{ requestHash: "h-stored", status: 202, responseBody: '{"stored":1}' }, undefined, undefined, undefined, undefined]);
  const ids = (await queueRows(server)).map((r) => (r.payload as { properties: { i: number } }).properties.i);
  expect(ids).toEqual([2, 3, 4, 5]);
  const keys = await db.read("SELECT key, request_hash FROM idempotency_keys ORDER BY key");
  expect(keys.rows.map((r) => [r.key, r.request_hash])).toEqual([["expired", "h-expired-new"], ["fresh", "h-fresh-new"], ["other", "h-other-new"], ["stored", "h-stored"]]);
}

/** Segment's rows, each with its own key (KeyedRows), sharing one commit with an API job: a row whose key is stored
 * is skipped, the rest are written in order with their keys; a stored key keeps its record and time. */
async function commitKeyedRowsTogether(server: Awaited<ReturnType<typeof startTestServer>>) {
  const db = server.ctx.database;
  const now = Date.now();
  const [fresh, old] = [now - 60_000, now - 25 * 3_600_000];
  await db.execute({
    sql: "INSERT INTO idempotency_keys (project_id, key, request_hash, status, response_body, created_at) VALUES ('default', 'seg:stored', 'h-old', 200, 'old', ?), ('default', 'seg:expired', 'h-old', 200, 'old', ?), ('other', 'seg:new', 'h-old', 200, 'old', ?)",
    args: [fresh, old, fresh],
  });
  const writer = ingestWriterFor(server.ctx);
  const lock = await holdWriteLock(db);
  const row = (i: number, key?: string) => ({ kind: "track" as const, payload: JSON.stringify(event(i)), key });
  const results = [
    writer.enqueue({ projectId: "default", source: "api", receivedAt: now, groups: [groupOf("track", [JSON.stringify(event(1))])] }),
    writer.enqueue({
      projectId: "default",
      source: "segment",
      receivedAt: now,
      groups: [],
      keyed: { rows: [row(2, "seg:stored"), row(3), row(4, "seg:expired"), row(5, "seg:new")], record: { requestHash: "segment", status: 200, responseBody: "ok" } },
    }),
    writer.enqueue({ projectId: "default", source: "api", receivedAt: now, groups: [groupOf("track", [JSON.stringify(event(6))])] }),
  ];
  await waitFor(() => writer.pendingJobs === 3);
  const commits = writer.stats.commits;
  await lock.release();
  expect(await Promise.all(results)).toEqual([undefined, undefined, undefined]);
  expect(writer.stats.commits).toBe(commits + 1);
  const rows = await queueRows(server);
  expect(rows.map((r) => (r.payload as { properties: { i: number } }).properties.i)).toEqual([1, 3, 4, 5, 6]);
  expect(rows.map((r) => r.source)).toEqual(["api", "segment", "segment", "segment", "api"]);
  const keys = await db.read("SELECT project_id, key, request_hash, created_at FROM idempotency_keys ORDER BY project_id, key");
  expect(keys.rows.map((r) => [r.project_id, r.key, r.request_hash, Number(r.created_at)])).toEqual([
    ["default", "seg:expired", "segment", now],
    ["default", "seg:new", "segment", now],
    ["default", "seg:stored", "h-old", fresh],
    ["other", "seg:new", "h-old", fresh],
  ]);
}

/** A commit's check, run on the write thread and again on the main connection (`commit_thread = false`). */
function onThreadAndMainConnection(name: string, check: (server: Awaited<ReturnType<typeof startTestServer>>) => Promise<void>) {
  test(`${name} (write thread)`, async () => {
    const server = await startTestServer("", { background: false });
    try {
      expect((await post(server, "/api/v1/events", event(0))).status).toBe(202); // the write thread is up
      expect(ingestWriterFor(server.ctx).threaded).toBe(true);
      await server.ctx.database.execute("DELETE FROM ingest_queue");
      await check(server);
    } finally {
      await server.close();
    }
  });
  test(`${name} (main connection, no write thread)`, async () => {
    const server = await startTestServer(`[ingest]\ncommit_thread = false\n`, { background: false });
    try {
      expect(ingestWriterFor(server.ctx).threaded).toBe(false);
      await check(server);
    } finally {
      await server.close();
    }
  });
}

onThreadAndMainConnection("a commit skips the keyed rows (Segment's messageIds) whose key is stored, and stores the others' keys", commitKeyedRowsTogether);
onThreadAndMainConnection("a commit looks its jobs' Idempotency-Keys up: a stored key's job writes nothing and gets the stored record", commitKeyedTogether);
