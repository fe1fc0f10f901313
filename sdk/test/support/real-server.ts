import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { libsqlEntry, openDbReader, type DbReader } from "./db-reader.js";

const run = promisify(execFile);

/** The Vibefollow repository around this SDK checkout: the server's source and its installed binaries. */
export interface ServerCheckout {
  root: string;
  bun: string;
}

/**
 * Finds the server next to the SDK (`../src/cli/index.ts`). Returns a reason string when it cannot be used:
 * the SDK is on its own (published, or copied out), or the root's dependencies are not installed.
 */
export function findServerCheckout(): ServerCheckout | string {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
  if (!existsSync(join(root, "src/cli/index.ts"))) return "no Vibefollow server source at ../src/cli/index.ts";
  const bun = join(root, "node_modules/.bin/bun");
  if (!existsSync(bun) || !existsSync(libsqlEntry(root))) {
    return `server source found but its dependencies are missing (run \`npm ci\` in ${root})`;
  }
  return { root, bun };
}

export interface RealServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  apiKey: string;
  dbPath: string;
  db: DbReader;
  /** Everything the server wrote to stdout/stderr, for failure messages. */
  output(): string;
  close(): Promise<void>;
}

/**
 * Starts `vibefollow serve` as a child process over a fresh database in a temp dir, the way an operator would:
 * writes a config (`extraToml` appended), creates an API key with `keys create`, spawns `serve` on a port the OS
 * picks, reads the URL it prints and waits for `/readyz`. `close()` stops it with SIGTERM (SIGKILL after 5 s).
 */
export async function startRealServer(checkout: ServerCheckout, extraToml = ""): Promise<RealServer> {
  const dir = mkdtempSync(join(tmpdir(), "vf-sdk-it-"));
  const dbPath = join(dir, "vibefollow.db");
  const configPath = join(dir, "vibefollow.toml");
  // Port 0 and the printed URL, rather than probing for a free port: nothing can take it in between.
  // The hourly evaluator is off: nothing here is about rules, and it would only add load and log lines.
  writeFileSync(
    configPath,
    `[server]\nlisten = "127.0.0.1:0"\n\n[database]\nurl = ${JSON.stringify(`file:${dbPath}`)}\n\n` +
      `[evaluator]\nenabled = false\n\n${extraToml}\n`,
  );
  // Env that would override the config file must not leak in from the developer's shell.
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith("VIBEFOLLOW_")) delete env[name];
  const cli = (args: string[]) => [join(checkout.root, "src/cli/index.ts"), ...args, "--config", configPath];

  let child: ChildProcess | undefined;
  let db: DbReader | undefined;
  let output = "";
  const cleanup = async () => {
    db?.close();
    if (child) await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const created = await run(checkout.bun, cli(["keys", "create", "--project", "default", "--name", "sdk-integration"]), {
      cwd: checkout.root,
      env,
      timeout: 30_000,
    });
    const apiKey = created.stdout.trim();
    if (!/^sk_live_\S+$/.test(apiKey)) throw new Error(`keys create printed ${JSON.stringify(created.stdout)}; stderr: ${created.stderr}`);

    const proc = spawn(checkout.bun, cli(["serve"]), { cwd: checkout.root, env, stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    // If the test process dies without running `after`, the server must not outlive it.
    const killOnExit = () => proc.kill("SIGKILL");
    process.once("exit", killOnExit);
    proc.once("exit", () => process.off("exit", killOnExit));
    const url = await new Promise<string>((resolveUrl, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not print its URL within 30 s:\n${output}`)), 30_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const m = /Vibefollow listening on (http:\/\/\S+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolveUrl(m[1]!);
        }
      };
      proc.stdout!.on("data", onData);
      proc.stderr!.on("data", onData);
      proc.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`serve exited early (${code ?? signal}):\n${output}`));
      });
    });
    await waitForReady(url);
    db = await openDbReader(checkout.root, dbPath);
    return { url, apiKey, dbPath, db, output: () => output, close: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

async function waitForReady(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url}/readyz not ready within 30 s (last: ${last})`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
