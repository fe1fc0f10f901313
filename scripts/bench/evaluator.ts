/**
 * Evaluator benchmark (`bun run bench:evaluator`, DESIGN "Speed"): 1M users with a realistic history (~10M
 * events, stage history, feature usage, onboarding steps, a spread of stages) in a temp database, then the
 * hourly evaluator with all default rules — a first run (every occasion new: the worst case, the day the rules
 * are switched on) and a steady-state run an hour later. Reports wall time, peak RSS, matches, and the ratio to
 * one full scan of the events table measured in the same process on the same file.
 *
 *   BENCH_USERS=1000000 BENCH_EVENTS_PER_USER=10 bun run bench:evaluator
 *   BENCH_KEEP=1 …                    keep the generated file (its path is printed)
 *   BENCH_REUSE=/path/bench.db …      measure again on a kept file (its ledger is emptied first; churn and
 *                                     audience membership stay as the last run left them)
 *
 * Bars (2 cores): ≤ 60 s, ≤ 1 GiB RSS. The run is measured with its audience recompute (the hourly job does
 * both); `onMatches` pages through every match but does not render drafts (that is the drafts' own cost).
 * Data is generated in a child process (bun:sqlite, no journal, indexes built after the load).
 */
import { Database as RawSqlite } from "bun:sqlite";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load";
import { openDatabase } from "../../src/db/client";
import { migrate } from "../../src/db/migrate";
import { setQuiet } from "../../src/lib/log";
import { runEvaluator } from "../../src/rules";

const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);
const EVENTS_PER_USER = Number(process.env.BENCH_EVENTS_PER_USER ?? 10);
const BAR_SECONDS = 60;
const BAR_RSS_MIB = 1024;
const DAY = 86_400_000;
const NOW = Date.parse("2026-06-01T12:00:00Z");
const PROJECT = "bench";

const config = (url: string) => parseConfig({ database: { url, synchronous: "full" }, projects: [{ id: PROJECT }] });

/** Child: fills the migrated file as fast as SQLite allows. Spreads are deterministic: (i * prime) % n. */
async function generate(file: string): Promise<void> {
  const db = new RawSqlite(file);
  const run = (sql: string) => db.run(sql);
  for (const p of ["journal_mode = DELETE", "synchronous = OFF", "cache_size = -200000", "temp_store = FILE", "journal_mode = OFF"]) run(`PRAGMA ${p}`);
  const indexes = db
    .query("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('tracked_users', 'events', 'stage_history') AND sql IS NOT NULL")
    .all() as { name: string; sql: string }[];
  for (const i of indexes) run(`DROP INDEX "${i.name}"`);
  const t0 = performance.now();
  // Stage by h = (i*7919) % 20: 1 past_due, 2 cancelled, 3 churned, 3 trialing, 5 active, 6 signed_up in 20.
  run(`
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${USERS}),
    b AS (SELECT i, (i * 7919) % 20 AS h, ${NOW} - ((i * 104729) % 365) * ${DAY} - (i % 86400000) AS signup FROM s),
    c AS (SELECT i, h, signup,
            CASE WHEN h = 0 THEN 'past_due' WHEN h IN (1, 2) THEN 'cancelled' WHEN h IN (3, 4, 5) THEN 'churned'
                 WHEN h IN (6, 7, 8) THEN 'trialing' WHEN h BETWEEN 9 AND 13 THEN 'active' ELSE 'signed_up' END AS stage,
            signup + (${NOW} - signup) * ((i * 13) % 100) / 100 AS changed,
            max(signup, ${NOW} - ((i * 15485863) % 45) * ${DAY} - (i % 3600000)) AS seen
          FROM b)
    INSERT INTO tracked_users (project_id, external_user_id, email, name, plan, signup_date, first_seen_at, last_seen_at, stage,
      stage_changed_at, mrr, trial_ends_at, churn_at, suppressed, backfilled, event_count, traits, created_at, updated_at)
    SELECT '${PROJECT}', 'user_' || i, CASE WHEN i % 53 = 0 THEN NULL ELSE 'user' || i || '@example.com' END, 'User ' || i,
      CASE WHEN stage IN ('active', 'past_due') THEN 'pro' ELSE 'free' END, signup, signup, seen, stage, changed,
      CASE WHEN stage IN ('active', 'past_due') THEN 4900 ELSE 0 END,
      CASE WHEN stage = 'trialing' THEN changed + 14 * ${DAY} ELSE NULL END,
      CASE WHEN stage = 'cancelled' THEN changed + 14 * ${DAY} ELSE NULL END,
      i % 97 = 0, i % 10 = 0, ${EVENTS_PER_USER}, '{}', signup, ${NOW}
    FROM c`);
  const t1 = performance.now();
  // One signup per user, the canonical event behind each stage, then generic usage to EVENTS_PER_USER.
  run(`INSERT INTO events (project_id, user_id, name, occurred_at, received_at, payload, properties)
       SELECT project_id, id, 'user_signed_up', signup_date, signup_date, '{}', '{"plan":"free","source":"ads"}' FROM tracked_users`);
  run(`INSERT INTO events (project_id, user_id, name, occurred_at, received_at, payload, properties)
       SELECT project_id, id, CASE stage WHEN 'trialing' THEN 'trial_started' WHEN 'active' THEN 'subscription_changed'
         WHEN 'past_due' THEN 'payment_failed' ELSE 'subscription_cancelled' END,
         stage_changed_at, stage_changed_at, '{}', '{}' FROM tracked_users WHERE stage <> 'signed_up'`);
  const total = USERS * Math.max(0, EVENTS_PER_USER - 2);
  run(`
    WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < ${total - 1})
    INSERT INTO events (project_id, user_id, name, occurred_at, received_at, payload, properties)
    SELECT '${PROJECT}', u.id, n.name, max(u.signup_date, u.last_seen_at - ((i * 668265263) % 4294967291) % (30 * ${DAY})), ${NOW}, '{}', n.props
    FROM s
    JOIN tracked_users u ON u.id = 1 + CASE WHEN i % 2 = 0 THEN ((i * 2654435761) % 4294967291) % ${Math.max(1, Math.floor(USERS / 5))}
                                            ELSE ((i * 2246822519) % 4294967291) % ${USERS} END
    JOIN (SELECT 0 AS k, 'feature_used' AS name, '{"feature":"export","count":1}' AS props UNION ALL SELECT 1, 'feature_used', '{"feature":"import","count":2}'
      UNION ALL SELECT 2, 'page_viewed', '{"path":"/app"}' UNION ALL SELECT 3, 'page_viewed', '{"path":"/settings"}'
      UNION ALL SELECT 4, 'page_viewed', '{"path":"/reports"}' UNION ALL SELECT 5, 'onboarding_step', '{"step":"profile","completed":true}'
      UNION ALL SELECT 6, 'onboarding_step', '{"step":"invite","completed":false}' UNION ALL SELECT 7, 'report_shared', '{"recipients":3}'
      UNION ALL SELECT 8, 'page_viewed', '{"path":"/billing"}' UNION ALL SELECT 9, 'user_invited', '{"invited_email":"x@y.io"}') n
      ON n.k = ((i * 3266489917) % 4294967291) % 10`);
  const t2 = performance.now();
  // Derived tables, as the normaliser would have left them.
  run(`INSERT INTO stage_history (project_id, user_id, from_stage, to_stage, at)
       SELECT project_id, id, NULL, stage, stage_changed_at FROM tracked_users`);
  run(`INSERT INTO feature_usage (user_id, feature, project_id, count, first_at, last_at)
       SELECT user_id, json_extract(properties, '$.feature'), project_id, count(*), min(occurred_at), max(occurred_at)
       FROM events WHERE name = 'feature_used' GROUP BY user_id, json_extract(properties, '$.feature')`);
  run(`INSERT INTO onboarding_steps (user_id, step, project_id, completed, first_at, last_at)
       SELECT user_id, json_extract(properties, '$.step'), project_id, max(json_extract(properties, '$.completed')), min(occurred_at), max(occurred_at)
       FROM events WHERE name = 'onboarding_step' GROUP BY user_id, json_extract(properties, '$.step')`);
  const t3 = performance.now();
  for (const i of indexes) run(i.sql);
  run("ANALYZE");
  run("PRAGMA journal_mode = WAL");
  const t4 = performance.now();
  const events = (db.query("SELECT count(*) AS n FROM events").get() as { n: number }).n;
  db.close();
  console.log(JSON.stringify({ usersMs: t1 - t0, eventsMs: t2 - t1, derivedMs: t3 - t2, indexesMs: t4 - t3, events }));
}

/** Child: the measurement — one full scan of events, then two evaluator runs. */
async function measure(file: string): Promise<void> {
  setQuiet(true);
  const cfg = config(`file:${file}`);
  const database = await openDatabase(cfg.database);
  // CPU time beside wall time: on a shared machine the wall clock mostly measures the neighbours.
  const time = async <T>(fn: () => Promise<T>) => {
    const t = performance.now();
    const c = process.cpuUsage();
    const value = await fn();
    const used = process.cpuUsage(c);
    return { ms: performance.now() - t, cpuMs: (used.user + used.system) / 1000, value };
  };
  // payload is in no index, so this reads every row of the table.
  const scan = await time(() => database.read("SELECT count(*) AS n, sum(length(payload)) AS b FROM events"));
  let handed = 0;
  const onMatches = (_tx: unknown, m: unknown[]) => void (handed += m.length);
  const first = await time(() => runEvaluator({ config: cfg, database }, { trigger: "manual", at: NOW, onMatches }));
  const second = await time(() => runEvaluator({ config: cfg, database }, { trigger: "manual", at: NOW + 3_600_000, onMatches }));
  database.close();
  console.log(JSON.stringify({ scanMs: scan.ms, scanCpuMs: scan.cpuMs, events: Number(scan.value.rows[0]!.n), first, second, handed, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

function child(mode: string, file: string): any {
  const out = spawnSync(process.execPath, [import.meta.path, mode, file], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 24 });
  if (out.status !== 0) throw new Error(`${mode} failed (exit ${out.status})`);
  return JSON.parse(out.stdout.trim().split("\n").pop()!);
}

async function main(): Promise<void> {
  const reuse = process.env.BENCH_REUSE;
  const dir = reuse ? undefined : mkdtempSync(join(tmpdir(), "vf-bench-eval-"));
  const file = reuse ?? join(dir!, "bench.db");
  try {
    console.log(`evaluator bench: ${USERS.toLocaleString("en")} users, ~${(USERS * EVENTS_PER_USER).toLocaleString("en")} events, all default rules`);
    const g0 = performance.now();
    if (reuse) {
      child("migrate", file); // migrations added since the file was made
      child("reset", file);
      console.log(`  reusing ${file} (ledger emptied)`);
    } else {
      child("migrate", file);
      const gen = child("generate", file);
      const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      console.log(`  data generated in ${s(performance.now() - g0)} (users ${s(gen.usersMs)}, events ${s(gen.eventsMs)}, derived ${s(gen.derivedMs)}, indexes ${s(gen.indexesMs)}); ${gen.events.toLocaleString("en")} events, file ${(statSync(file).size / 2 ** 20).toFixed(0)} MiB`);
    }
    const m = child("measure", file);
    const line = (label: string, r: { ms: number; cpuMs: number; value: { total: number; rules: { rule: string; matches: number; ms: number }[] } }) => {
      console.log(`  ${label}: ${(r.ms / 1000).toFixed(2)} s wall, ${(r.cpuMs / 1000).toFixed(2)} s CPU, ${r.value.total.toLocaleString("en")} new matches (${(r.ms / m.scanMs).toFixed(1)}x the events scan's wall, ${(r.cpuMs / m.scanCpuMs).toFixed(1)}x its CPU)`);
      console.log(`    ${r.value.rules.map((x) => `${x.rule}=${x.matches} (${(x.ms / 1000).toFixed(1)} s)`).join(", ")}`);
    };
    console.log(`  one full scan of events: ${(m.scanMs / 1000).toFixed(2)} s wall, ${(m.scanCpuMs / 1000).toFixed(2)} s CPU (${m.events.toLocaleString("en")} rows)`);
    line("run #1 (every occasion new)", m.first);
    line("run #2 (an hour later)     ", m.second);
    console.log(`  matches handed to onMatches: ${m.handed.toLocaleString("en")}`);
    console.log(`  peak RSS of the evaluator process: ${m.maxRssMiB.toFixed(0)} MiB`);
    const worst = Math.max(m.first.ms, m.second.ms) / 1000;
    const worstCpu = Math.max(m.first.cpuMs, m.second.cpuMs) / 1000;
    const ok = worst <= BAR_SECONDS && m.maxRssMiB <= BAR_RSS_MIB;
    console.log(`  bars ≤ ${BAR_SECONDS} s and ≤ ${BAR_RSS_MIB} MiB: ${ok ? "PASS" : "FAIL"} (worst ${worst.toFixed(2)} s wall, ${worstCpu.toFixed(2)} s CPU, ${m.maxRssMiB.toFixed(0)} MiB)`);
    const pressure = cpuPressure();
    if (pressure !== undefined) console.log(`  machine CPU pressure (avg60, /proc/pressure/cpu): ${pressure}% of the time some task waited for a CPU`);
    if (!ok) process.exitCode = 1;
  } finally {
    if (process.env.BENCH_KEEP || reuse) console.log(`  kept ${file}`);
    else rmSync(dir!, { recursive: true, force: true });
  }
}

function cpuPressure(): string | undefined {
  try {
    return /some avg10=[\d.]+ avg60=([\d.]+)/.exec(readFileSync("/proc/pressure/cpu", "utf8"))?.[1];
  } catch {
    return undefined;
  }
}

/** Child: the schema, through the product's own migrations. */
async function migrateOnly(file: string): Promise<void> {
  const database = await openDatabase(config(`file:${file}`).database);
  await migrate(database);
  database.close();
  console.log("{}");
}

/** Child: empties the ledger and run log of a kept file, so the next run is again a first run. */
function reset(file: string): void {
  const db = new RawSqlite(file);
  db.run("DELETE FROM rule_firings");
  db.run("DELETE FROM evaluator_runs");
  db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  console.log("{}");
}

const [mode, file] = process.argv.slice(2);
if (mode === "migrate") await migrateOnly(file!);
else if (mode === "reset") reset(file!);
else if (mode === "generate") await generate(file!);
else if (mode === "measure") await measure(file!);
else await main();
