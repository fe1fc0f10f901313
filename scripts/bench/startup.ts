/**
 * Start-up benchmark (`bun run bench:startup`, DESIGN "Speed": binary start to /readyz ok ≤ 500 ms).
 *
 * Builds the executable (scripts/build.ts) and, as the ceiling measured in the same run on the same machine, a
 * compiled bare `Bun.serve` that answers /readyz at once. Each is started BENCH_RUNS times from an empty
 * directory under the system temp dir, timed from spawn to the first 200 of /readyz (wall) and by the CPU the
 * process used until then. Vibefollow's first start (new database: migrations, first-start key and password)
 * is reported apart from the warm starts.
 *
 *   BENCH_RUNS=10 bun run bench:startup
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const BAR_MS = 500;

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Math.round(((Number(f[11]) + Number(f[12])) * 1000) / 100); // utime + stime, USER_HZ = 100
}

async function freePort(): Promise<number> {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port!;
  await s.stop(true);
  return port;
}

/** Spawns `cmd` in `cwd`, polls /readyz until 200; returns wall and CPU milliseconds, then stops it. */
async function startOnce(cmd: (port: number) => string[], cwd: string): Promise<{ wall: number; cpu: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const proc = Bun.spawn(cmd(port), { cwd, stdout: "ignore", stderr: "ignore", env: { PATH: process.env.PATH ?? "" } });
  try {
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        await res.arrayBuffer();
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      if (performance.now() - t0 > 30_000) throw new Error(`${cmd(port).join(" ")}: not ready after 30 s`);
      await Bun.sleep(2);
    }
    return { wall: performance.now() - t0, cpu: cpuMs(proc.pid) };
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

function summary(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${Math.round(s[Math.floor(s.length / 2)]!)} ms, min ${Math.round(s[0]!)} ms, max ${Math.round(s[s.length - 1]!)} ms`;
}

const work = mkdtempSync(join(tmpdir(), "vf-bench-startup-"));
try {
  const exe = join(work, "vibefollow");
  const build = Bun.spawnSync([process.execPath, join(ROOT, "scripts/build.ts"), "--outfile", exe], { cwd: ROOT, stderr: "inherit" });
  if (build.exitCode !== 0) throw new Error("build failed");

  const bareSource = join(work, "bare.ts");
  writeFileSync(bareSource, `Bun.serve({ hostname: "127.0.0.1", port: Number(process.argv[2]), fetch: () => Response.json({ status: "ok" }) });`);
  const bare = join(work, "bare");
  const compiled = await Bun.build({ entrypoints: [bareSource], compile: { outfile: bare }, target: "bun", minify: true, bytecode: true, format: "cjs" });
  if (!compiled.success) throw new Error("bare build failed");

  const runDir = join(work, "run");
  Bun.spawnSync(["mkdir", "-p", runDir]);
  const vf = (port: number) => [exe, "serve", "--listen", `127.0.0.1:${port}`];
  const first = await startOnce(vf, runDir);
  const warm = { wall: [] as number[], cpu: [] as number[] };
  const base = { wall: [] as number[], cpu: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    const a = await startOnce(vf, runDir);
    warm.wall.push(a.wall);
    warm.cpu.push(a.cpu);
    const b = await startOnce((port) => [bare, String(port)], runDir);
    base.wall.push(b.wall);
    base.cpu.push(b.cpu);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`machine: ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(2)}; ${RUNS} runs each`);
  console.log(`vibefollow first start (new database): ${Math.round(first.wall)} ms wall, ${first.cpu} ms CPU`);
  console.log(`vibefollow warm start → /readyz 200:  wall ${summary(warm.wall)}; CPU ${summary(warm.cpu)}`);
  console.log(`bare compiled Bun.serve (ceiling):     wall ${summary(base.wall)}; CPU ${summary(base.cpu)}`);
  console.log(`ratio vibefollow / bare (median wall): ${(median(warm.wall) / median(base.wall)).toFixed(1)}×`);
  const ok = median(warm.wall) <= BAR_MS;
  console.log(`bar: median warm start ≤ ${BAR_MS} ms — ${ok ? "met" : "NOT met"} (${Math.round(median(warm.wall))} ms)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
