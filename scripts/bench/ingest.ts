/**
 * Ingest benchmark (`bun run bench:ingest`, DESIGN "Speed"): the real server (durable: synchronous = FULL, a
 * temp database) as a child process, loaded by wrk (`apt-get install wrk`; autocannon if it is missing) from
 * another process over 64 keep-alive connections, beside a bare `Bun.serve` that parses the same JSON and
 * answers 202, measured in the same run. "Half load" paces every connection (wrk's `delay()`) so that about
 * half of the full-speed rate is offered, and reports the latency there. Because this machine's speed drifts
 * between runs, the single-event ratio is also measured in paired rounds: bare and ours alternating (the
 * "paired" line, median of BENCH_ROUNDS rounds of BENCH_ROUND_SECONDS). Each server's single events are
 * measured twice: on its new database file ("new WAL": the WAL file grows with every commit, which makes each
 * fsync dearer), then, after more load until the WAL file has reached its working size, in the steady state
 * that every later figure of that server is also taken in. The disk's fsync latency is printed at the start and
 * the end, since every request waits for one.
 *
 *   BENCH_SECONDS=10 BENCH_CONNECTIONS=64 BENCH_ROUNDS=3 BENCH_ROUND_SECONDS=4 bun run bench:ingest
 *   BENCH_SYNCHRONOUS=normal …   (commits without fsync: what durability costs; the bars are for full)
 *
 * Bars (2 cores), for the ingest path alone ("ingest only"): single events ≥ 40% of the bare server's requests/s,
 * p99 ≤ 10 ms at half that load; 500-event batches ≥ 150k events/s. The full `serve` lines are context.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, fsyncSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { WAL_SIZE_LIMIT_BYTES } from "../../src/db/client";

const ROOT = resolve(import.meta.dir, "../..");
const BUN = process.execPath;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
/** Paired rounds (bare, ours, bare, ours, …) for the single-event ratio: how many, and how long each. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 4);
const WARM_UP_SECONDS = 2;
const CONTEXT = "no bar: the normaliser runs meanwhile; the bars are for ingest alone, above";
/** The bars are for "full" (every 202 survives power loss); "normal" shows what the per-commit fsync costs. */
const SYNCHRONOUS = process.env.BENCH_SYNCHRONOUS === "normal" ? "normal" : "full";

const single = JSON.stringify({
  external_user_id: "user_12345",
  name: "feature_used",
  properties: { feature: "export_csv", count: 1, workspaceId: "ws_987", plan: "pro" },
  timestamp: "2026-01-15T10:00:00Z",
});
const batch = JSON.stringify({
  events: Array.from({ length: 500 }, (_, i) => ({
    external_user_id: `user_${i % 50}`,
    name: i % 5 === 0 ? "feature_used" : "page_viewed",
    properties: { feature: `f${i % 7}`, path: `/app/${i}`, workspaceId: "ws_987" },
    timestamp: "2026-01-15T10:00:00Z",
  })),
});

/** The real start-up code (`startVibefollow`), with the background loops (normaliser, evaluator…) off. */
function startWithoutLoops(toml: string): string {
  return `const { loadConfig } = await import("./src/config/load.ts");
const { startVibefollow } = await import("./src/main.ts");
const running = await startVibefollow({ loaded: loadConfig(${JSON.stringify(toml)}), listen: "127.0.0.1:0", background: false });
console.log("listening on " + running.url);`;
}

type Result = { rps: number; p50: number; p99: number; non2xx: number; errors: number };

function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((ok, fail) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const m = pattern.exec(seen);
      if (m) {
        child.stdout!.off("data", onData);
        ok(m[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => fail(new Error(`child exited (${code}) before ready:\n${seen}`)));
  });
}

/** wrk (Debian's `wrk`, C, one thread) costs the shared cores far less than a Node generator; autocannon is the
 * fallback when wrk is missing, and its figures are then bounded by the generator itself. */
const WRK = spawnSync("wrk", ["--version"], { encoding: "utf8" }).error ? undefined : "wrk";

type Load = {
  url: string;
  body: string;
  headers: Record<string, string>;
  /** pause per connection between requests */
  delayMs?: number;
  freshKeys?: boolean;
  seconds?: number;
};

function run(load: Load): Result {
  return WRK ? runWrk(load) : runAutocannon(load);
}

/** A random v4 UUID per request as the Idempotency-Key, as the SDK sends: random keys land all over the key
 * index, which costs the server more than sequential ones would (docs/benchmarks.md, "Eleventh session"). */
const RANDOM_UUID_LUA = `math.randomseed(${Date.now() % 1_000_000_007})
local hex = "0123456789abcdef"
local function h(n) local t = {} for i = 1, n do local r = math.random(1, 16); t[i] = hex:sub(r, r) end return table.concat(t) end
function request()
  local v = math.random(9, 12) -- the variant nibble: 8, 9, a or b
  wrk.headers["Idempotency-Key"] = h(8) .. "-" .. h(4) .. "-4" .. h(3) .. "-" .. hex:sub(v, v) .. h(3) .. "-" .. h(12)
  return wrk.format()
end`;

/** One wrk run; a Lua script sets the body and headers, paces connections (`delay`), and mints a fresh
 * Idempotency-Key per request when asked (RANDOM_UUID_LUA). */
function runWrk({ url, body, headers, delayMs, freshKeys, seconds = SECONDS }: Load): Result {
  const lua = [
    `wrk.method = "POST"`,
    `wrk.body = ${luaString(body)}`,
    ...Object.entries(headers).map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`),
    delayMs ? `function delay() return ${delayMs} end` : "",
    freshKeys ? RANDOM_UUID_LUA : "",
    `function done(summary, latency, requests)
  io.write(string.format("RESULT %f %f %f %d %d %d\\n", summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.requests))
end`,
  ].join("\n");
  const script = join(dir, "load.lua");
  writeFileSync(script, lua);
  const out = spawnSync("wrk", ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "-s", script, url], { encoding: "utf8" });
  const m = /RESULT (\S+) (\S+) (\S+) (\d+) (\d+)/.exec(out.stdout);
  if (out.status !== 0 || !m) throw new Error(`wrk failed: ${out.stderr}${out.stdout}`);
  return { rps: Number(m[1]), p50: round(Number(m[2])), p99: round(Number(m[3])), non2xx: Number(m[4]), errors: Number(m[5]) };
}

const round = (ms: number) => Math.round(ms * 100) / 100;
const luaString = (s: string) => JSON.stringify(s); // a JSON string literal is a valid Lua string literal here (ASCII, \" escapes)

function runAutocannon({ url, body, headers, delayMs, freshKeys, seconds = SECONDS }: Load): Result {
  const rate = delayMs ? (CONNECTIONS * 1000) / delayMs : 0;
  const script = `const autocannon = require(${JSON.stringify(join(ROOT, "node_modules/autocannon"))});
const { randomUUID } = require("node:crypto");
autocannon({ url: ${JSON.stringify(url)}, connections: ${CONNECTIONS}, duration: ${seconds}, ${rate ? `overallRate: ${Math.round(rate)},` : ""}
  requests: [{ method: "POST", body: ${JSON.stringify(body)}, headers: ${JSON.stringify(headers)},
    setupRequest: (r) => (${freshKeys ? "true" : "false"} ? { ...r, headers: { ...r.headers, "idempotency-key": randomUUID() } } : r) }] },
  (err, r) => { if (err) throw err; console.log(JSON.stringify(r)); });`;
  const out = spawnSync("node", ["-e", script], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (out.status !== 0) throw new Error(`autocannon failed: ${out.stderr}`);
  const r = JSON.parse(out.stdout.trim().split("\n").pop()!);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
}

/**
 * The disk's fsync latency now, beside the database: 200 writes of 16 KiB (about one group commit's WAL frames)
 * in place, each synced. Printed at the start and the end of the run, because a commit's fsync is on every
 * request's path: on a machine whose disk is busy (a fresh VM still writing back an install, say) the p99s say
 * more about the disk than about the server.
 */
function fsyncLatency(): string {
  const path = join(dir, "fsync-probe");
  const fd = openSync(path, "w");
  const block = Buffer.alloc(16 * 1024, 1);
  const times: number[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      writeSync(fd, block, 0, block.length, (i % 16) * block.length);
      const t = performance.now();
      fsyncSync(fd);
      times.push(performance.now() - t);
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  times.sort((a, b) => a - b);
  return `fsync of 16 KiB p50 ${times[100]!.toFixed(2)} ms, p99 ${times[198]!.toFixed(2)} ms`;
}

/** Loads the server until its WAL file has reached the size at which it is started over (and from then on
 * reused), at most 90 s; returns what was reached, for the report. */
function growWal(url: string, headers: Record<string, string>): string {
  const wal = join(dir, "vf.db-wal");
  const size = () => (existsSync(wal) ? statSync(wal).size : 0);
  const t0 = performance.now();
  while (size() < WAL_SIZE_LIMIT_BYTES && performance.now() - t0 < 90_000) run({ url: `${url}/api/v1/events`, body: single, headers, seconds: 3 });
  return `${Math.round(size() / 1048576)} MiB after ${Math.round((performance.now() - t0) / 1000)} s more load`;
}

/** The pause per connection that offers about half of `full`'s rate: each connection's cycle is its latency
 * plus the pause. */
function halfLoadDelay(full: Result): number {
  return Math.max(1, Math.round((CONNECTIONS * 1000) / (full.rps / 2) - full.p50 / 2));
}

/**
 * The same ratio, robust to this machine's drift: bare and ours alternate in short rounds, each round's ratio
 * taken from two neighbouring measurements; the median round decides.
 */
function pairedRounds(bareUrl: string, oursUrl: string, bareHeaders: Record<string, string>, oursHeaders: Record<string, string>): string {
  const ratios: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const b = run({ url: bareUrl, body: single, headers: bareHeaders, seconds: ROUND_SECONDS });
    const o = run({ url: oursUrl, body: single, headers: oursHeaders, seconds: ROUND_SECONDS });
    ratios.push(o.rps / b.rps);
  }
  const median = [...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)]!;
  const shown = ratios.map((r) => `${(r * 100).toFixed(1)}%`).join(" / ");
  return `${"ingest only, paired".padEnd(26)} ${ROUNDS} rounds of ${ROUND_SECONDS} s, bare and ours alternating: ${shown} → median ${(median * 100).toFixed(1)}% of bare (bar ≥ 40%: ${median >= 0.4 ? "met" : "not met"})`;
}

function line(label: string, r: Result, eventsPerRequest: number, extra = ""): string {
  const eps = Math.round(r.rps * eventsPerRequest);
  return `${label.padEnd(26)} ${Math.round(r.rps).toString().padStart(8)} req/s ${eps.toString().padStart(9)} events/s  p50 ${r.p50} ms  p99 ${r.p99} ms  non-2xx ${r.non2xx}  errors ${r.errors}${extra}`;
}

const dir = mkdtempSync(join(tmpdir(), "vf-bench-ingest-"));
const children: ChildProcess[] = [];
const cleanup = () => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
};
process.on("SIGINT", () => (cleanup(), process.exit(130)));

try {
  const toml = join(dir, "bench.toml");
  writeFileSync(
    toml,
    `[database]\nurl = "file:${join(dir, "vf.db")}"\nsynchronous = "${SYNCHRONOUS}"\n\n[ingest]\nrate_limit = { per_second = 100000000, burst = 100000000 }\n\n[[projects]]\nid = "default"\n`,
  );
  const key = "unused-by-the-bare-server";

  const bare = spawn(
    BUN,
    ["-e", `const s = Bun.serve({ hostname: "127.0.0.1", port: 0, async fetch(req) { JSON.parse(await req.text()); return new Response('{"data":{"accepted":true}}', { status: 202, headers: { "content-type": "application/json" } }); } }); console.log("listening " + s.url);`],
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
  );
  children.push(bare);
  const bareUrl = (await waitForLine(bare, /listening (\S+)/)).replace(/\/$/, "");

  const headers = { "content-type": "application/json", authorization: `Bearer ${key}` };
  console.log(`ingest benchmark: ${WRK ? "wrk, 1 thread" : "autocannon (wrk not installed: apt-get install wrk — figures are bounded by the Node generator)"}, ${CONNECTIONS} connections, ${SECONDS} s each, synchronous = ${SYNCHRONOUS.toUpperCase()}, ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(1)}; disk: ${fsyncLatency()}`);
  run({ url: `${bareUrl}/api/v1/events`, body: single, headers, seconds: WARM_UP_SECONDS });
  const bareSingle = run({ url: `${bareUrl}/api/v1/events`, body: single, headers });
  console.log(line("bare Bun.serve, single", bareSingle, 1));
  const bareBatch = run({ url: `${bareUrl}/api/v1/events/batch`, body: batch, headers });
  console.log(line("bare Bun.serve, batch 500", bareBatch, 500));
  // The bare server stays up (idle) for the paired rounds below.

  // Two servers over fresh databases: the ingest path alone (background loops off: the capacity of the API
  // and its group commit), then the full `serve`, where the normaliser drains the queue at the same time.
  const modes = [
    { label: "ingest only", args: ["-e", startWithoutLoops(toml)] },
    { label: "full serve", args: ["src/cli/index.ts", "serve", "--config", toml, "--listen", "127.0.0.1:0"] },
  ];
  for (const mode of modes) {
    // DESIGN's ingest bars are for the ingest path: the full `serve` lines are context (its normaliser applies the
    // queue meanwhile, on the same two cores, with the normaliser's own bar measured by bench:normaliser).
    const bars = mode.label === "ingest only";
    rmSync(join(dir, "vf.db"), { force: true });
    rmSync(join(dir, "vf.db-wal"), { force: true });
    rmSync(join(dir, "vf.db-shm"), { force: true });
    const created = spawnSync(BUN, ["src/cli/index.ts", "keys", "create", "--project", "default", "--name", "bench", "--config", toml], { cwd: ROOT, encoding: "utf8" });
    const modeKey = created.stdout.trim();
    if (!modeKey.startsWith("sk_live_")) throw new Error(`keys create failed: ${created.stderr}`);
    const h = { ...headers, authorization: `Bearer ${modeKey}` };
    // `serve` sets MIMALLOC_PURGE_DELAY=-1 for itself (src/cli/allocator.ts); the ingest-only server starts
    // through `bun -e`, not the CLI, so it gets the same setting here. The bare server runs as Bun starts it
    // (measured: the setting gains it nothing).
    const env = { ...process.env, VIBEFOLLOW_LOG: "silent", ...(mode.label === "ingest only" ? { MIMALLOC_PURGE_DELAY: "-1" } : {}) };
    const server = spawn(BUN, mode.args, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"], env });
    children.push(server);
    const url = await waitForLine(server, /listening on (\S+)/);
    // Warm-up, not measured: the key's first (Argon2id) verification, the JIT, the commit thread's start.
    run({ url: `${url}/api/v1/events`, body: single, headers: h, seconds: WARM_UP_SECONDS });
    const fresh = run({ url: `${url}/api/v1/events`, body: single, headers: h });
    console.log(line(`${mode.label}, single, new WAL`, fresh, 1, `  → ${((fresh.rps / bareSingle.rps) * 100).toFixed(1)}% of bare (the WAL file still growing)`));
    // The figures below are the steady state: the WAL file has reached its working size and is overwritten in
    // place from then on. While it grows, every commit's fsync also writes the file's new size and blocks
    // (ext4 here: ~700 µs for an appended 33 KB and fsync against ~440 µs overwritten), which a server pays
    // once per start, for its first WAL_SIZE_LIMIT_BYTES (256 MiB) under full load or less at lower loads.
    const grown = growWal(url, h);
    const ours = run({ url: `${url}/api/v1/events`, body: single, headers: h });
    console.log(line(`${mode.label}, single`, ours, 1, `  → ${((ours.rps / bareSingle.rps) * 100).toFixed(1)}% of bare (${bars ? "bar ≥ 40%" : CONTEXT}; steady state: WAL file at ${grown})`));
    if (bars) console.log(pairedRounds(`${bareUrl}/api/v1/events`, `${url}/api/v1/events`, headers, h));
    const half = run({ url: `${url}/api/v1/events`, body: single, headers: h, delayMs: halfLoadDelay(ours) });
    console.log(line(`${mode.label}, single @ half`, half, 1, `  (${bars ? "bar: p99 ≤ 10 ms at half the load" : CONTEXT})`));
    if (bars) {
      const keyed = run({ url: `${url}/api/v1/events`, body: single, headers: h, freshKeys: true });
      console.log(line(`${mode.label}, single + key`, keyed, 1, `  → ${((keyed.rps / bareSingle.rps) * 100).toFixed(1)}% of bare (every request with a fresh Idempotency-Key, as the SDK sends)`));
    }
    const ourBatch = run({ url: `${url}/api/v1/events/batch`, body: batch, headers: h });
    const eps = ourBatch.rps * 500;
    console.log(line(`${mode.label}, batch 500`, ourBatch, 500, `  → ${((ourBatch.rps / bareBatch.rps) * 100).toFixed(1)}% of bare (${bars ? `bar ≥ 150k events/s: ${eps >= 150_000 ? "met" : "not met"}` : CONTEXT})`));
    server.kill("SIGKILL");
  }
  console.log(`disk at the end: ${fsyncLatency()}`);
} finally {
  cleanup();
}
