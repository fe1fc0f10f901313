import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { parseConfigText, type LoadedConfig } from "../../src/config/load";
import { createKey } from "../../src/keys/service";
import { DAY, HOUR } from "../../src/lib/durations";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { startVibefollow, type Running } from "../../src/main";
import { drainQueue } from "../../src/pipeline";
import { tempDir } from "../support/harness";
import { post } from "../ingest/support";

// SPEC §14: "a daily job deletes events older than retention_days (never queue items or quarantine)" — done by
// the running server's own retention service (src/ops/retention.ts, registered in src/services.ts), which also
// runs once at start-up. Not a call to applyRetention() by hand.
//
// The old rows are made through the real pipeline, not SQL: a first server (background loops off) under a manual
// clock set 3 days back takes the requests through the ingest API; the normaliser (drainQueue) turns the old
// track into an event with that old `occurred_at`, and an ambiguous-key track into a quarantine item with that
// old `created_at`; for the second test one more old request is left un-drained as a queue row with that old
// `received_at`. Then, an hour before "now", one newer event. Then the same database file is served again, with
// retention_days = 1, under the manual clock at "now".

const T_NOW = Date.parse("2026-03-10T12:00:00Z");
const T_OLD = T_NOW - 3 * DAY;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  setClock(systemClock);
  while (cleanups.length) await cleanups.pop()!();
});

function start(dir: string, background: boolean): Promise<Running> {
  const text = `[database]\nurl = "file:${join(dir, "vf.db")}"\n[[projects]]\nid = "default"\nretention_days = 1\n`;
  const loaded: LoadedConfig = { config: parseConfigText(text, "test.toml"), file: "test.toml", embeddedDefaults: false };
  return startVibefollow({ loaded, listen: "127.0.0.1:0", background });
}

type Rows = { events: string[]; queue: { kind: string; received_at: number }[]; quarantine: { reason: string; state: string }[] };

async function rows(running: Running): Promise<Rows> {
  const db = running.ctx.database;
  const events = (await db.read("SELECT name FROM events ORDER BY occurred_at")).rows.map((r) => String(r.name));
  const queue = (await db.read("SELECT kind, received_at FROM ingest_queue ORDER BY seq")).rows.map((r) => ({ kind: String(r.kind), received_at: Number(r.received_at) }));
  const quarantine = (await db.read("SELECT reason, state FROM quarantine")).rows.map((r) => ({ reason: String(r.reason), state: String(r.state) }));
  return { events, queue, quarantine };
}

/**
 * Writes the rows through the ingest API + normaliser of a server without background loops: at T_OLD an
 * identify, `old_event` and an ambiguous-key track (→ quarantine); an hour before T_NOW `new_event`; and, when
 * `queueRow`, one more request received at T_OLD that is never drained (an old queue row).
 */
async function seed(dir: string, queueRow: boolean): Promise<void> {
  const clock = manualClock(T_OLD);
  setClock(clock);
  const first = await start(dir, false);
  try {
    const { key: apiKey } = await createKey(first.ctx.database, "default", "t");
    const api = async (path: string, body: unknown) => expect((await post({ url: first.url, apiKey }, path, body)).status).toBe(202);
    await api("/api/v1/users", { external_user_id: "u1", email: "u1@example.com" });
    await api("/api/v1/events", { external_user_id: "u1", name: "old_event" });
    await api("/api/v1/events", { external_user_id: "u1", name: "bad", properties: { workspaceId: "a", workspace_id: "b" } });
    await drainQueue(first.ctx);
    clock.set(T_NOW - HOUR);
    await api("/api/v1/events", { external_user_id: "u1", name: "new_event" });
    await drainQueue(first.ctx);
    if (queueRow) {
      clock.set(T_OLD);
      await api("/api/v1/events", { external_user_id: "u1", name: "queued_event" });
    }
    const seeded = await rows(first);
    expect(seeded.events).toEqual(["old_event", "new_event"]);
    expect(seeded.queue).toEqual(queueRow ? [{ kind: "track", received_at: T_OLD }] : []);
    expect(seeded.quarantine).toEqual([{ reason: "ambiguous_key", state: "open" }]);
    const created = (await first.ctx.database.read("SELECT created_at FROM quarantine")).rows[0]!.created_at;
    expect(Number(created)).toBe(T_OLD);
  } finally {
    await first.stop();
  }
  clock.set(T_NOW);
}

/** The retention service's start-up run has finished once its stop() resolves (stop awaits the run in flight). */
async function retentionRunDone(running: Running): Promise<void> {
  const service = running.services.find((s) => s.name === "retention");
  expect(service).toBeDefined();
  await service!.stop();
}

test("a server started with its background services deletes events older than retention_days at start-up; newer events and quarantine stay", async () => {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  await seed(dir, false);

  const second = await start(dir, true);
  cleanups.push(() => second.stop());
  await retentionRunDone(second);
  const after = await rows(second);
  expect(after.events).toEqual(["new_event"]);
  expect(after.quarantine).toEqual([{ reason: "ambiguous_key", state: "open" }]);
}, 30_000);

test("the retention service never deletes old queue items or old quarantine items", async () => {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  await seed(dir, true);

  // Every background service the server registers, except the normaliser: it would apply the queued item (its
  // job, not retention's) and so hide whether retention deleted it. Started the way startVibefollow starts them.
  const second = await start(dir, false);
  cleanups.push(() => second.stop());
  const names = second.services.map((s) => s.name);
  expect(names).toContain("normaliser");
  expect(names).toContain("retention");
  for (const s of second.services) if (s.name !== "normaliser") await s.start();
  await retentionRunDone(second);

  const after = await rows(second);
  expect(after.events).toEqual(["new_event"]); // the run did happen
  expect(after.queue).toEqual([{ kind: "track", received_at: T_OLD }]);
  expect(after.quarantine).toEqual([{ reason: "ambiguous_key", state: "open" }]);
}, 30_000);
