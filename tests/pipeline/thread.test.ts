import { afterEach, expect, spyOn, test } from "bun:test";
import { acquireWriteThread } from "../../src/db/write-thread";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { createNormaliser, drainQueue, queueStats } from "../../src/pipeline";
import { BatchConnection } from "../../src/pipeline/batch-connection";
import { waitFor } from "../ingest/support";
import { count, enqueue, identify, rows, startPipelineServer, track, userRow } from "./support";

/**
 * The normaliser's batches run whole on the database's write thread (src/pipeline/batch-connection.ts), the
 * connection ingest commits on too. These tests drive the real loop over a real file and a real worker.
 */

const WEBHOOK = `[[projects.webhooks]]\nurl = "http://127.0.0.1:9/hook"\nsecret = "0123456789abcdef0123"\nevents = ["quarantine.added"]\n`;

afterEach(() => setClock(systemClock));

/** Whether the normaliser's batches for this context would run on the write thread. */
async function opensThreaded(ctx: Parameters<typeof BatchConnection.open>[0]): Promise<boolean> {
  const connection = await BatchConnection.open(ctx);
  const threaded = connection.threaded;
  await connection.close();
  return threaded;
}

async function drained(database: Parameters<typeof queueStats>[0]): Promise<void> {
  await waitFor(async () => (await queueStats(database)).depth === 0, 20_000);
}

test("batches run on the write thread, with the main thread's clock and the same hooks: audiences and webhooks", async () => {
  const server = await startPipelineServer(WEBHOOK);
  const db = server.ctx.database;
  const clock = manualClock(Date.UTC(2031, 4, 6, 12));
  setClock(clock);
  const service = createNormaliser(server.ctx);
  try {
    expect(await opensThreaded(server.ctx)).toBe(true);
    await enqueue(db, [identify("t1", { email: "t1@example.com" }), track("t1", "trial_started", { properties: { trial_days: 14 } }), { kind: "track", payload: "{not json" }]);
    service.start();
    await drained(db);
    const u = (await userRow(db, "t1"))!;
    expect(u.stage).toBe("trialing");
    // The times recorded on the thread are the main thread's (a test clock here), not the thread's own.
    expect(Number(u.created_at)).toBe(clock.now());
    expect(Number(u.last_seen_at)).toBe(clock.now());
    // The after-apply hook ran on the thread: the user entered the "trialing" audience in the same batch.
    expect(await count(db, "SELECT count(*) AS n FROM audience_members WHERE audience_id = 'trialing' AND user_id = ?", [u.id])).toBe(1);
    // The quarantine hook too: the malformed item is quarantined and its webhook delivery queued.
    expect(await count(db, "SELECT count(*) AS n FROM quarantine WHERE reason = 'invalid_payload'")).toBe(1);
    expect(await count(db, "SELECT count(*) AS n FROM webhook_deliveries WHERE event_type = 'quarantine.added'")).toBe(1);
  } finally {
    await service.stop();
    await server.close();
  }
});

test("when the write thread dies during a backlog, batches go on on the main thread: nothing lost, nothing applied twice", async () => {
  const server = await startPipelineServer();
  const db = server.ctx.database;
  const n = 3000;
  await enqueue(db, [identify("d1")]);
  for (let i = 0; i < n; i += 500) await enqueue(db, Array.from({ length: 500 }, (_, k) => track("d1", `e-${i + k}`)));
  const service = createNormaliser({ ...server.ctx, config: { ...server.ctx.config, normaliser: { ...server.ctx.config.normaliser, batch_size: 100 } } });
  // A lease on the same shared thread: killing it kills the normaliser's thread, as a crash of the thread would.
  const lease = await acquireWriteThread(db, server.ctx.config.database);
  try {
    service.start();
    await waitFor(async () => (await queueStats(db)).depth < n - 200, 20_000);
    // Between two batches (the write lock held here, so none is in flight): Bun aborts the whole process when a
    // worker is terminated inside a libSQL call, so a thread dying mid-batch cannot be staged in-process — that
    // case is a process crash, which the kill -9 tests cover.
    await db.exclusive(async () => {
      lease.kill();
      await waitFor(() => lease.broken);
    });
    await drained(db);
    const names = (await rows(db, "SELECT name FROM events ORDER BY id")).map((r) => r.name);
    expect(names).toEqual(Array.from({ length: n }, (_, i) => `e-${i}`)); // each once, in arrival order
    expect(Number((await userRow(db, "d1"))!.event_count)).toBe(n);
  } finally {
    await service.stop();
    await lease.close();
    await server.close();
  }
}, 30_000);

test("thread = false keeps the normaliser's batches on the main thread", async () => {
  const server = await startPipelineServer(`[normaliser]\nthread = false\n`);
  const service = createNormaliser(server.ctx);
  try {
    expect(await opensThreaded(server.ctx)).toBe(false);
    await enqueue(server.ctx.database, [identify("m1"), track("m1", "a")]);
    service.start();
    await drained(server.ctx.database);
    expect(Number((await userRow(server.ctx.database, "m1"))!.event_count)).toBe(1);
  } finally {
    await service.stop();
    await server.close();
  }
});

test("the write thread is shared: one thread for every lease, ended by the last one", async () => {
  const server = await startPipelineServer();
  const db = server.ctx.database;
  try {
    const a = await acquireWriteThread(db, server.ctx.config.database);
    const b = await acquireWriteThread(db, server.ctx.config.database);
    a.kill();
    await waitFor(() => b.broken); // the same thread
    await a.close();
    await b.close();
    const c = await acquireWriteThread(db, server.ctx.config.database); // all released: a fresh thread
    expect(c.broken).toBe(false);
    await db.exclusive(() => c.commit([{ sql: "INSERT INTO meta (key, value) VALUES ('shared-thread', 'ok')", args: [] }]));
    expect(await count(db, "SELECT count(*) AS n FROM meta WHERE key = 'shared-thread'")).toBe(1);
    await c.close();
  } finally {
    await server.close();
  }
});

test("while another write waits for the lock, catch-up batches stay at batch_size; alone, they grow", async () => {
  const server = await startPipelineServer();
  const db = server.ctx.database;
  const ctx = { ...server.ctx, config: { ...server.ctx.config, normaliser: { ...server.ctx.config.normaliser, batch_size: 10 } } };
  const items = (tag: string) => Array.from({ length: 400 }, (_, i) => track("c1", `${tag}-${i}`));
  const connection = await BatchConnection.open(ctx);
  try {
    await enqueue(db, [identify("c1")]);
    await drainQueue(ctx, connection);
    // Another writer arrives while each batch holds the lock, and queues behind it on the FIFO lock, as an ingest
    // commit does. (A loop of writes beside the drain raced it: a batch could end in the moment between two of the
    // loop's writes, find nobody waiting, and grow.)
    await enqueue(db, items("busy"));
    const exclusive = db.exclusive.bind(db);
    let arrived = 0;
    const arrivals = spyOn(db, "exclusive").mockImplementation(((work) => {
      const batch = exclusive(work);
      arrived++;
      void db.execute("SELECT 1");
      return batch;
    }) as typeof db.exclusive);
    const busy = await drainQueue(ctx, connection).finally(() => arrivals.mockRestore());
    expect(arrived).toBeGreaterThanOrEqual(40); // every batch took the lock with another writer behind it
    expect(busy.items).toBe(400);
    expect(busy.batches).toBe(40);
    await enqueue(db, items("alone"));
    const alone = await drainQueue(ctx, connection);
    expect(alone.items).toBe(400);
    expect(alone.batches).toBe(6); // 10 + 20 + 40 + 80 + 160 + 90
  } finally {
    await connection.close();
    await server.close();
  }
});
