/**
 * Drafts and sending benchmark (`bun scripts/bench/drafts.ts`): what a big first run costs after the evaluator.
 * N users in a temp database; then (1) `createDrafts` for N welcome matches in pages of 2,000 (as the evaluator
 * hands them over: render, deadline, insert, history), (2) the scheduler turning them into queued messages
 * (re-check, caps, .eml composition) and (3) the sender delivering them to the outbox. Each phase reports its
 * rate; phase 1 also its ratio to a bare multi-row INSERT of the same rows, measured in the same run.
 *
 *   BENCH_USERS=20000 bun scripts/bench/drafts.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfigText } from "../../src/config/load";
import { openDatabase } from "../../src/db/client";
import { migrate } from "../../src/db/migrate";
import { createDrafts, dispatchDue, type DraftMatch } from "../../src/drafts";
import { syncProjects } from "../../src/keys/projects";
import { manualClock, setClock } from "../../src/lib/clock";
import { setQuiet } from "../../src/lib/log";
import { deliverDue, Messengers } from "../../src/mail";

setQuiet(true);
const N = Number(process.env.BENCH_USERS ?? 20_000);
const PAGE = 2_000;
const dir = mkdtempSync(join(tmpdir(), "vf-bench-drafts-"));
const T0 = Date.parse("2026-06-01T10:00:00Z");
setClock(manualClock(T0));

const config = parseConfigText(`[database]\nurl = "file:${join(dir, "bench.db")}"\n[server]\npublic_url = "https://vf.example.com"
[[projects]]\nid = "bench"\nname = "Bench"\nautopilot = true\nreview_window = "0s"\nsend_window = { start = "00:00", end = "24:00" }
frequency_cap = { per_day = 0, per_week = 0 }\n`);
const database = await openDatabase(config.database);
await migrate(database);
await syncProjects(database, config);

for (let i = 0; i < N; i += 500) {
  const ids = Array.from({ length: Math.min(500, N - i) }, (_, k) => i + k);
  await database.execute({
    sql: `INSERT INTO tracked_users (project_id, external_user_id, email, name, traits, stage, created_at, updated_at)
          VALUES ${ids.map(() => "('bench', ?, ?, ?, '{\"timezone\":\"Europe/Berlin\"}', 'signed_up', 0, 0)").join(",")}`,
    args: ids.flatMap((k) => [`u${k}`, `u${k}@example.com`, `User ${k}`]),
  });
}
// The welcome rule re-checks for a signup event: give every user one.
await database.execute({
  sql: `INSERT INTO events (project_id, user_id, name, occurred_at, received_at, payload, properties)
        SELECT 'bench', id, 'user_signed_up', ?, ?, '{}', '{"plan":"free","source":"bench"}' FROM tracked_users`,
  args: [T0 - 60_000, T0 - 60_000],
});

const time = async (work: () => Promise<unknown>) => {
  const t = performance.now();
  await work();
  return performance.now() - t;
};

// Ceiling: the same number of rows of the same width, inserted bare in pages of 100.
const ceilingMs = await time(() =>
  database.write(async (tx) => {
    await tx.execute("CREATE TEMP TABLE ceiling (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r)");
    const body = "x".repeat(900);
    for (let i = 0; i < N; i += 100) {
      const n = Math.min(100, N - i);
      await tx.execute({ sql: `INSERT INTO ceiling VALUES ${Array(n).fill("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)").join(",")}`, args: Array.from({ length: n * 18 }, (_, k) => (k % 18 === 10 ? body : k)) });
    }
  }),
);

const users = (await database.read("SELECT id FROM tracked_users ORDER BY id")).rows.map((r) => Number(r.id));
const matches: DraftMatch[] = users.map((userId) => ({ projectId: "bench", ruleId: "welcome", ruleKind: "welcome", userId, occasion: "once", firedAt: T0 }));
const createMs = await time(async () => {
  for (let i = 0; i < matches.length; i += PAGE) await database.write((tx) => createDrafts(tx, matches.slice(i, i + PAGE), config));
});

const env = { database, config, messengers: new Messengers(config) };
const dispatchMs = await time(async () => {
  while ((await dispatchDue(env, 200)).queued > 0);
});
let sent = 0;
const deliverMs = await time(async () => {
  for (;;) {
    const outcomes = await deliverDue(env, 5, 500);
    sent += outcomes.filter((o) => o.outcome === "sent").length;
    if (outcomes.length === 0) break;
  }
});
env.messengers.close();
database.close();
rmSync(dir, { recursive: true, force: true });

const rate = (n: number, ms: number) => Math.round(n / (ms / 1000)).toLocaleString("en");
console.log(`drafts benchmark: ${N.toLocaleString("en")} users, load average ${loadavg()[0]!.toFixed(1)}`);
console.log(`  createDrafts:         ${Math.round(createMs)} ms  (${rate(N, createMs)} drafts/s; bare insert of the same rows ${Math.round(ceilingMs)} ms, ratio ${(createMs / ceilingMs).toFixed(1)}x)`);
console.log(`  scheduler → messages: ${Math.round(dispatchMs)} ms  (${rate(N, dispatchMs)} drafts/s: re-check, caps, .eml, queue)`);
console.log(`  sender → outbox:      ${Math.round(deliverMs)} ms  (${rate(sent, deliverMs)} messages/s: claim, deliver, record), ${sent.toLocaleString("en")} sent`);
if (sent !== N) {
  console.error(`expected ${N} messages sent, got ${sent}`);
  process.exit(1);
}
