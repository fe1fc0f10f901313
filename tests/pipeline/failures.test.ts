import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { createNormaliser, drainQueue, queueStats, setAfterApply, setOnQuarantine } from "../../src/pipeline";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { CATCH_UP_FACTOR, CATCH_UP_MS, nextLimit } from "../../src/pipeline/normaliser";
import type { TestServer } from "../support/harness";
import { holdWriteLock, waitFor } from "../ingest/support";
import { count, drain, enqueue, identify, rows, startPipelineServer, track, userRow } from "./support";

let server: TestServer;
let restoreHook: Parameters<typeof setAfterApply>[0];
beforeAll(async () => {
  server = await startPipelineServer();
  await enqueue(server.ctx.database, [identify("f1")]);
  await drain(server);
});
afterAll(() => server.close());
afterEach(() => {
  setClock(systemClock);
  setOnQuarantine(undefined);
});

test("an item the database refuses goes to quarantine as apply_failed; the rest of its batch is applied", async () => {
  const db = server.ctx.database;
  // A real refusal by the database (as a CHECK or a bad value would), for one event name only.
  await db.execute("CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.name = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned value'); END");
  try {
    await enqueue(db, [track("f1", "ok-1"), track("f1", "poison"), track("f1", "ok-2"), identify("f2")]);
    const r = await drain(server);
    expect(r.items).toBe(4);
    expect(r.quarantined).toBe(1);
    const q = await rows(db, "SELECT reason, detail, event_name FROM quarantine WHERE event_name = 'poison'");
    expect(q).toEqual([{ reason: "apply_failed", detail: expect.stringContaining("poisoned value"), event_name: "poison" }]);
    const u = (await userRow(db, "f1"))!;
    expect((await rows(db, "SELECT name FROM events WHERE user_id = ? ORDER BY id", [u.id])).map((e) => e.name)).toEqual(["ok-1", "ok-2"]);
    expect(u.event_count).toBe(2); // the failed item's effects were rolled back with it
    expect(await userRow(db, "f2")).toBeDefined();
    expect(await count(db, "SELECT count(*) AS n FROM ingest_queue")).toBe(0);
  } finally {
    await db.execute("DROP TRIGGER poison");
  }
});

test("hooks see the touched users and quarantined items in the batch's transaction; a failing hook does not stop the batch", async () => {
  const db = server.ctx.database;
  const seen: number[][] = [];
  const quarantined: string[] = [];
  setOnQuarantine((_tx, items) => void quarantined.push(...items.map((i) => i.reason)));
  // The wired hook (audiences) is replaced for this test and restored after.
  setAfterApply(async (tx, projectId, ids) => {
    seen.push(ids);
    await tx.execute({ sql: "INSERT INTO meta (key, value) VALUES ('hook-write', ?)", args: [projectId] });
    throw new Error("hook bug");
  });
  try {
    await enqueue(db, [identify("h1"), track("h1", "x"), track("nobody", "y"), track("h1", "z", { timestamp: "nope" })]);
    const r = await drain(server);
    expect(r).toMatchObject({ applied: 2, buffered: 1, quarantined: 1 });
    const h1 = (await userRow(db, "h1"))!;
    expect(seen).toEqual([[h1.id]]);
    expect(quarantined).toEqual(["invalid_timestamp"]);
    expect(await count(db, "SELECT count(*) AS n FROM meta WHERE key = 'hook-write'")).toBe(0); // undone
    expect(h1.event_count).toBe(1);
  } finally {
    const { registerServices } = await import("../../src/services");
    registerServices({ ...server.ctx, services: [] });
  }
});

test("the loop as a service drains what arrives, reports depth and lag, and stops cleanly", async () => {
  const db = server.ctx.database;
  const clock = manualClock(Date.now());
  setClock(clock);
  await enqueue(db, [identify("loop-1", {}, { receivedAt: clock.now() - 1500 }), track("loop-1", "a")]);
  expect(await queueStats(db)).toEqual({ depth: 2, lagMs: 1500 });
  expect(await queueStats(db, "acme")).toEqual({ depth: 2, lagMs: 1500 });
  expect(await queueStats(db, "other")).toEqual({ depth: 0, lagMs: 0 });
  const service = createNormaliser({ ...server.ctx, config: { ...server.ctx.config, normaliser: { ...server.ctx.config.normaliser, batch_size: 1, idle_interval: 5 } } });
  service.start();
  try {
    // The first step waits for the write thread to start (20 s bound a hang; a cold, loaded machine is slow).
    await waitFor(async () => (await queueStats(db)).depth === 0, 20_000);
    expect(await queueStats(db)).toEqual({ depth: 0, lagMs: 0 });
    expect((await userRow(db, "loop-1"))!.event_count).toBe(1);
    await enqueue(db, [track("loop-1", "b")]);
    await waitFor(async () => (await queueStats(db)).depth === 0, 20_000);
    expect((await userRow(db, "loop-1"))!.event_count).toBe(2);
  } finally {
    await service.stop();
  }
  await enqueue(db, [track("loop-1", "after-stop")]);
  await Bun.sleep(30);
  expect((await queueStats(db)).depth).toBe(1); // stopped means stopped
  await drain(server);
});

test("when the database itself fails the loop backs off and retries: nothing is blamed on the items", async () => {
  const db = server.ctx.database;
  await enqueue(db, [identify("sick")]);
  await drain(server);
  await db.execute("ALTER TABLE events RENAME TO events_away");
  const service = createNormaliser({ ...server.ctx, config: { ...server.ctx.config, normaliser: { ...server.ctx.config.normaliser, batch_size: 10, idle_interval: 5 } } });
  try {
    await enqueue(db, [track("sick", "one"), track("sick", "two")]);
    service.start();
    await Bun.sleep(300); // several failed attempts
    expect((await queueStats(db)).depth).toBe(2);
    expect(await count(db, "SELECT count(*) AS n FROM quarantine WHERE external_user_id = 'sick'")).toBe(0);
  } finally {
    await db.execute("ALTER TABLE events_away RENAME TO events");
  }
  try {
    for (let i = 0; i < 400 && (await queueStats(db)).depth > 0; i++) await Bun.sleep(10);
    expect((await queueStats(db)).depth).toBe(0);
    expect((await userRow(db, "sick"))!.event_count).toBe(2);
  } finally {
    await service.stop();
  }
});


test("while a backlog drains batches grow (up to 64× batch_size, while quick and no one waits) and shrink back once the queue is shallow", async () => {
  const db = server.ctx.database;
  await enqueue(db, Array.from({ length: 100 }, (_, i) => track("f1", `grow-${i}`)));
  const ctx = { ...server.ctx, config: { ...server.ctx.config, normaliser: { ...server.ctx.config.normaliser, batch_size: 2, idle_interval: 5 } } };
  const r = await drainQueue(ctx);
  expect(r.items).toBe(100);
  expect(r.batches).toBe(6); // 2 + 4 + 8 + 16 + 32 + 38
  // The size rule itself: double while full and quick, up to the cap; hold when slow; halve when very slow;
  // reset when not full.
  expect([CATCH_UP_FACTOR, CATCH_UP_MS]).toEqual([64, 2_000]);
  expect(nextLimit(8, 8, 2, 10)).toBe(16);
  expect(nextLimit(64, 64, 2, 10)).toBe(128);
  expect(nextLimit(128, 128, 2, 10)).toBe(128);
  expect(nextLimit(16, 16, 2, CATCH_UP_MS + 100)).toBe(16);
  expect(nextLimit(16, 16, 2, CATCH_UP_MS * 2 + 100)).toBe(8);
  expect(nextLimit(16, 5, 2, 10)).toBe(2);
  // While other writes (ingest commits) wait for the lock, a catch-up goes back to batch_size.
  expect(nextLimit(8, 8, 2, 10, true)).toBe(2);
  const held = await holdWriteLock(db); // held until released, however late this test gets the CPU back
  const waiting = db.execute("SELECT 1");
  expect(db.writersWaiting).toBe(1);
  await Promise.all([held.release(), waiting]);
  expect(db.writersWaiting).toBe(0);
  const u = (await userRow(db, "f1"))!;
  const names = (await rows(db, "SELECT name FROM events WHERE user_id = ? AND name LIKE 'grow-%' ORDER BY id", [u.id])).map((e) => e.name);
  expect(names).toEqual(Array.from({ length: 100 }, (_, i) => `grow-${i}`)); // still in arrival order
});
