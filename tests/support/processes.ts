import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

/** Helpers for tests that run the real server as a child process (to `kill -9` it). */
export const ROOT = resolve(import.meta.dir, "../..");
const BUN = process.execPath;

/** Starts `vibefollow serve` from source on a free port; resolves with the URL it prints. */
export function startServerProcess(configPath: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(BUN, ["src/cli/index.ts", "serve", "--config", configPath, "--listen", "127.0.0.1:0"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, VIBEFOLLOW_LOG: "silent" },
  });
  return new Promise((ok, fail) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) ok({ child, url: m[1]! });
    });
    child.once("exit", (code) => fail(new Error(`server exited (${code}) before listening: ${out}`)));
  });
}

/** `vibefollow keys create` through the real CLI (after `migrate`: only serve and migrate create a database);
 * returns the printed key. */
export function createKeyWithCli(configPath: string, project = "default"): string {
  spawnSync(BUN, ["src/cli/index.ts", "migrate", "--config", configPath], { cwd: ROOT, encoding: "utf8" });
  const created = spawnSync(BUN, ["src/cli/index.ts", "keys", "create", "--project", project, "--name", "t", "--config", configPath], { cwd: ROOT, encoding: "utf8" });
  return created.stdout.trim();
}

/** Polls `check` every 20 ms until it holds; fails after `ms` naming `what`. */
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** Starts `vibefollow serve` without waiting for it (for tests that watch its effects, not its output). */
export function spawnServer(configPath: string) {
  return Bun.spawn([BUN, "src/cli/index.ts", "serve", "--config", configPath, "--listen", "127.0.0.1:0"], {
    cwd: ROOT,
    env: { ...process.env, VIBEFOLLOW_LOG: "silent" },
    stdout: "ignore",
    stderr: "inherit",
  });
}
