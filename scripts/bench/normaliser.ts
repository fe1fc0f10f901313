/**
 * Normaliser benchmark (`bun run bench:normaliser`, DESIGN "Speed"): a temp database (synchronous = FULL), one
 * project with the default audiences wired as in production, 100k users and a realistic mix — identifies,
 * canonical and custom events, some events of users never identified (they wait in the buffer).
 *
 * 1. Ceiling: the same rows inserted raw (batched, 1,000 per transaction) into a table shaped like `events`.
 * 2. Throughput: the whole backlog drained by the normaliser as `serve` runs it — batches on the write thread,
 *    checkpoints on the checkpoint thread — (items/s sustained), the ratio to (1), and the longest the main
 *    thread was unavailable meanwhile.
 * 3. Lag: the normaliser loop running while a producer offers 10k events/s for BENCH_SECONDS (committed on the
 *    write thread, as ingest does); queue lag (age of the oldest queued item) sampled every 100 ms.
 *
 *   BENCH_USERS=100000 BENCH_EVENTS=200000 BENCH_SECONDS=10 BENCH_RATE=10000 bun run bench:normaliser
 *   BENCH_AUDIENCES=0 …   (without audience membership refresh, to see its share)
 *   BENCH_THREAD=0 …      (batches on the main thread: `[normaliser] thread = false`)
 *
 * Bars (2 cores): ≥ 30k items/s sustained; lag ≤ 2 s at 10k events/s offered.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfigText } from "../../src/config/load";
import { openDatabase, type Database } from "../../src/db/client";
import { migrate } from "../../src/db/migrate";
import { syncProjects } from "../../src/keys/projects";
import { setQuiet } from "../../src/lib/log";
import { acquireWriteThread, type WriteThreadLease } from "../../src/db/write-thread";
import { createNormaliser, drainQueue, queueStats, setAfterApply } from "../../src/pipeline";
import { BatchConnection } from "../../src/pipeline/batch-connection";
import { registerServices } from "../../src/services";

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 10_000);
const AUDIENCES = process.env.BENCH_AUDIENCES !== "0";
const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
/** BENCH_PROFILE=1: CPU time per SQL statement of the drain (where the time goes; batches on the main connection). */
const PROFILE = process.env.BENCH_PROFILE === "1";
/** BENCH_THREAD=0: the normaliser's batches on the main connection (`[normaliser] thread = false`). Profiling and
 * BENCH_AUDIENCES=0 need them there too (the write thread wires the production hooks itself). */
const THREAD = process.env.BENCH_THREAD !== "0" && !PROFILE && AUDIENCES;

setQuiet(true);
const dir = mkdtempSync(join(tmpdir(), "vf-bench-normaliser-"));
const config = parseConfigText(`[database]\nurl = "file:${join(dir, "bench.db")}"\nsynchronous = "full"\n[normaliser]\nbatch_size = ${BATCH}\nthread = ${THREAD}\n[[projects]]\nid = "bench"\n`);
const database = await openDatabase(config.database);
await migrate(database);
await syncProjects(database, config);
const ctx = { config, database, keys: undefined as never, services: [] };
registerServices(ctx); // the production wiring: audience membership refreshed in each batch
if (!AUDIENCES) setAfterApply(undefined);

type Row = [kind: "identify" | "track", payload: string];
let seed = 7;
const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
const base = Date.UTC(2026, 0, 1);
const FEATURES = ["export", "share", "invite", "report", "api", "import", "billing"];
const CUSTOM = ["page_viewed", "project_created", "report_exported", "comment_added", "file_uploaded"];

function event(user: string, i: number): string {
  const timestamp = new Date(base + i * 1000).toISOString();
  const r = random();
  let name: string;
  let properties: Record<string, unknown>;
  if (r < 0.25) (name = "feature_used"), (properties = { feature: pick(FEATURES), count: 1 });
  else if (r < 0.33) (name = "onboarding_step"), (properties = { step: pick(["connect", "import", "invite", "done"]), completed: random() < 0.6 });
  else if (r < 0.36) (name = "trial_started"), (properties = { trialDays: 14 });
  else if (r < 0.39) (name = "subscription_changed"), (properties = { from: "free", to: "pro", interval: "month", mrr: 4900 });
  else if (r < 0.4) (name = "payment_failed"), (properties = { reason: "card_declined" });
  else (name = pick(CUSTOM)), (properties = { workspaceId: `ws_${i % 977}`, path: `/app/${i % 5000}`, durationMs: i % 3000 });
  return JSON.stringify({ external_user_id: user, name, properties, timestamp });
}

/** Identify each user before most of its events; ~3% of events belong to users never identified. */
function generate(users: number, events: number, prefix: string): Row[] {
  const rows: Row[] = [];
  const perEvent = users / events;
  let identified = 0;
  for (let i = 0; i < events; i++) {
    while (identified < Math.min(users, Math.ceil((i + 1) * perEvent) + 10)) {
      const u = identified++;
      rows.push(["identify", JSON.stringify({ external_user_id: `${prefix}${u}`, email: `${prefix}${u}@example.com`, traits: { name: `User ${u}`, plan: "free", signupDate: new Date(base).toISOString(), companySize: u % 500 } })]);
    }
    const user = random() < 0.03 ? `anon_${prefix}${Math.floor(random() * users)}` : `${prefix}${Math.floor(random() * identified)}`;
    rows.push(["track", event(user, i)]);
  }
  return rows;
}

/** Queues rows as ingest does: on the write thread when there is one (`ingest`), else on the main connection. */
let ingest: WriteThreadLease | undefined;
async function enqueue(db: Database, rows: Row[], receivedAt: number): Promise<void> {
  const statement = {
    sql: "INSERT INTO ingest_queue (project_id, kind, source, payload, received_at) SELECT 'bench', j.value ->> 0, 'api', j.value ->> 1, ? FROM json_each(?) j",
    args: [receivedAt, JSON.stringify(rows)],
  };
  const thread = ingest;
  if (thread) await db.exclusive(() => thread.commit([statement]));
  else await db.execute(statement);
}

const rows = generate(USERS, EVENTS, "u");
console.log(`normaliser benchmark: ${rows.length.toLocaleString()} items (${USERS.toLocaleString()} users, ${EVENTS.toLocaleString()} events), audiences ${AUDIENCES ? "on" : "off"}, synchronous=FULL, batches ${THREAD ? "on the write thread" : "on the main connection"}`);

// 1. Ceilings: raw batched inserts (1,000 per transaction) of the same rows, same database, same run — into a
//    bare table, and into a copy of `events` with its indexes (the least any store of these rows costs).
async function rawInserts(table: string): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < rows.length; i += 1000) {
    const chunk = rows.slice(i, i + 1000).map((r, k) => ["bench", (i + k) % USERS, r[0], base + i + k, base + i + k, r[1], r[1]]);
    await database.write(async (tx) => {
      await tx.execute({
        sql: `INSERT INTO ${table} (project_id, user_id, name, occurred_at, received_at, payload, properties) SELECT j.value->>0, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5, j.value->>6 FROM json_each(?) j`,
        args: [JSON.stringify(chunk)],
      });
    });
  }
  const perSecond = rows.length / ((performance.now() - start) / 1000);
  await database.execute(`DROP TABLE ${table}`);
  return perSecond;
}
const RAW_COLUMNS = "(id INTEGER PRIMARY KEY AUTOINCREMENT, project_id TEXT NOT NULL, user_id INTEGER NOT NULL, name TEXT NOT NULL, occurred_at INTEGER NOT NULL, received_at INTEGER NOT NULL, payload TEXT NOT NULL, properties TEXT NOT NULL)";
await database.execute(`CREATE TABLE bench_raw ${RAW_COLUMNS}`);
const rawRate = await rawInserts("bench_raw");
await database.execute(`CREATE TABLE bench_events ${RAW_COLUMNS}`);
await database.execute("CREATE INDEX bench_events_1 ON bench_events (user_id, name, occurred_at)");
await database.execute("CREATE INDEX bench_events_2 ON bench_events (project_id, name, occurred_at)");
await database.execute("CREATE INDEX bench_events_3 ON bench_events (received_at)");
const rawIndexedRate = await rawInserts("bench_events");

// 2. Throughput: the backlog drained, as `serve` runs it: batches on the write thread (ingest commits there
//    too), WAL checkpoints on the checkpoint thread and never on the main connection.
for (let i = 0; i < rows.length; i += 5000) await enqueue(database, rows.slice(i, i + 5000), Date.now());
if (THREAD) {
  ingest = await acquireWriteThread(database, config.database);
  await database.execute("PRAGMA wal_autocheckpoint = 0");
}
const connection = await BatchConnection.open(ctx);
const cpu = new Map<string, number>();
if (PROFILE) profileStatements(database, cpu);
// The longest the main thread was unavailable (HTTP unanswered) during the drain: how late a 5 ms timer fires.
let stall = 0;
let tick0 = performance.now();
const stallTimer = setInterval(() => {
  const t = performance.now();
  stall = Math.max(stall, t - tick0 - 5);
  tick0 = t;
}, 5);
let t0 = performance.now();
const cpu0 = process.cpuUsage();
const drained = await drainQueue(ctx, connection);
clearInterval(stallTimer);
await connection.close();
const seconds = (performance.now() - t0) / 1000;
const cpuUsed = process.cpuUsage(cpu0);
if (PROFILE) {
  console.log(`drain CPU ${Math.round((cpuUsed.user + cpuUsed.system) / 1000)} ms (system ${Math.round(cpuUsed.system / 1000)} ms); by statement:`);
  for (const [sql, ms] of [...cpu].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${Math.round(ms).toString().padStart(7)} ms  ${sql}`);
}
const rate = drained.items / seconds;
console.log(`raw batched inserts:  ${Math.round(rawRate).toLocaleString()} rows/s into a bare table, ${Math.round(rawIndexedRate).toLocaleString()} rows/s into an events-shaped table with its 3 indexes`);
console.log(`normaliser drain:     ${Math.round(rate).toLocaleString()} items/s sustained (${drained.items.toLocaleString()} items in ${seconds.toFixed(2)} s; applied ${drained.applied}, buffered ${drained.buffered}, attached ${drained.attached}, quarantined ${drained.quarantined})`);
console.log(`ratio to raw inserts: ${(rate / rawRate).toFixed(2)} (bare), ${(rate / rawIndexedRate).toFixed(2)} (indexed)   drain CPU ${Math.round(((cpuUsed.user + cpuUsed.system) / 1000 / drained.items) * 1000)} µs/item   bar ≥ 30,000 items/s: ${rate >= 30_000 ? "PASS" : "FAIL"}`);
console.log(`main thread:          longest stall during the drain ${Math.round(stall)} ms (what an HTTP request could wait)`);

// 3. Lag under a steady offered load (events of the users now known, some new identifies).
const load = generate(Math.ceil((RATE * SECONDS) / 20), RATE * SECONDS, "l");
const normaliser = createNormaliser(ctx);
normaliser.start();
const lags: number[] = [];
const tick = 10;
const perTick = (RATE * tick) / 1000;
let offered = 0;
const start = performance.now();
const sampler = setInterval(() => void queueStats(database).then((s) => lags.push(s.lagMs)), 100);
while (offered < load.length) {
  const due = Math.min(load.length, Math.floor(((performance.now() - start) / tick) * perTick));
  if (due > offered) {
    await enqueue(database, load.slice(offered, due), Date.now());
    offered = due;
  }
  await Bun.sleep(tick);
}
const offerSeconds = (performance.now() - start) / 1000;
while ((await queueStats(database)).depth > 0) await Bun.sleep(20);
clearInterval(sampler);
await normaliser.stop();
await ingest?.close();
lags.sort((a, b) => a - b);
const p = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? 0;
const maxLag = lags.at(-1) ?? 0;
console.log(`steady load:          ${Math.round(offered / offerSeconds).toLocaleString()} items/s offered for ${offerSeconds.toFixed(1)} s`);
console.log(`queue lag:            p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${maxLag} ms   bar ≤ 2,000 ms: ${maxLag <= 2000 ? "PASS" : "FAIL"}`);

database.close();
rmSync(dir, { recursive: true, force: true });

function profileStatements(db: Database, into: Map<string, number>): void {
  const open = db.client.transaction.bind(db.client);
  const add = (key: string, since: NodeJS.CpuUsage) => {
    const u = process.cpuUsage(since);
    into.set(key, (into.get(key) ?? 0) + (u.user + u.system) / 1000);
  };
  (db.client as { transaction: unknown }).transaction = async (mode: "write") => {
    const tx = await open(mode);
    const execute = tx.execute.bind(tx);
    const commit = tx.commit.bind(tx);
    Object.assign(tx, {
      execute: async (st: Parameters<typeof execute>[0]) => {
        const since = process.cpuUsage();
        try {
          return await execute(st);
        } finally {
          add((typeof st === "string" ? st : st.sql).replace(/\s+/g, " ").replace(/^WITH r AS MATERIALIZED \(.*?\) /, "").slice(0, 90), since);
        }
      },
      commit: async () => {
        const since = process.cpuUsage();
        await commit();
        add("COMMIT", since);
      },
    });
    return tx;
  };
}
