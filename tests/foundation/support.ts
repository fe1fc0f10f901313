import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

/** The repository root and the CLI entry, run from source by the same Bun that runs the tests. */
export const ROOT = resolve(import.meta.dir, "../..");
export const CLI = join(ROOT, "src/cli/index.ts");

/** An environment without the variables that would change which config a child process reads. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("VIBEFOLLOW_")) env[k] = v;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k]; // undefined unsets a variable the test runner has
    else env[k] = v;
  }
  return env;
}

/** A running process's environment and arguments, as the kernel has them (Linux /proc). */
export function processImage(pid: number): { env: string[]; argv: string[] } {
  const read = (file: string) => readFileSync(`/proc/${pid}/${file}`, "utf8").split("\0").filter(Boolean);
  return { env: read("environ"), argv: read("cmdline") };
}

/** A fresh empty directory outside the repository (no vibefollow.toml, no node_modules up the tree). */
export function emptyDir(prefix = "vf-foundation-"): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type RunResult = { code: number; stdout: string; stderr: string };

/** Runs `vibefollow ARGS` to completion (from source unless `exe` is given). */
export async function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; stdin?: string; exe?: string } = {}): Promise<RunResult> {
  const cmd = opts.exe ? [opts.exe, ...args] : [process.execPath, CLI, ...args];
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd ?? ROOT,
    env: cleanEnv(opts.env),
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

export type Served = {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  /** Everything printed on stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Milliseconds from spawn to the "listening" line. */
  startedMs: number;
  stop(signal?: NodeJS.Signals): Promise<number>;
};

/** Starts `vibefollow serve --listen 127.0.0.1:0 …` and resolves once it prints the URL it listens on. */
export async function startServe(args: string[], opts: { cwd: string; env?: Record<string, string | undefined>; exe?: string }): Promise<Served> {
  const t0 = performance.now();
  const cmd = opts.exe ? [opts.exe, "serve", "--listen", "127.0.0.1:0", ...args] : [process.execPath, CLI, "serve", "--listen", "127.0.0.1:0", ...args];
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: cleanEnv(opts.env), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let out = "";
  let err = "";
  void (async () => {
    for await (const chunk of proc.stderr) err += new TextDecoder().decode(chunk);
  })();
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out}\n${err}`)), 20_000);
    void (async () => {
      for await (const chunk of proc.stdout) {
        out += new TextDecoder().decode(chunk);
        const m = /Vibefollow listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolveUrl(m[1]!);
          // keep draining so the child never blocks on a full pipe
        }
      }
      clearTimeout(timer);
      reject(new Error(`serve exited before listening (code ${await proc.exited}):\n${out}\n${err}`));
    })();
  });
  const startedMs = performance.now() - t0;
  return {
    proc,
    url,
    startedMs,
    stdout: () => out,
    stderr: () => err,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      return await proc.exited;
    },
  };
}

/** Polls `url` until it answers `status` (or fails after `timeoutMs`); returns the elapsed milliseconds. */
export async function waitForStatus(url: string, status: number, timeoutMs = 10_000): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === status) return performance.now() - t0;
    } catch {
      // not listening yet
    }
    if (performance.now() - t0 > timeoutMs) throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms`);
    await Bun.sleep(5);
  }
}
