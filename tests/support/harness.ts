import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfigText, type LoadedConfig } from "../../src/config/load";
import { createKey } from "../../src/keys/service";
import { setQuiet } from "../../src/lib/log";
import { startVibefollow, type Running } from "../../src/main";

setQuiet(true);

/** A fresh temp directory, removed by `cleanup()`. */
export function tempDir(prefix = "vf-test-"): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type TestServer = Running & {
  dir: string;
  apiKey: string;
  /** fetch against the server with the API key; `body` objects are sent as JSON. */
  api(path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  close(): Promise<void>;
};

/**
 * Starts the real server in this process on a free port, over a real database file in a temp dir.
 * `toml` is appended to a config whose database lives in that dir. Background loops run unless
 * `background: false` (then tests drive the normaliser/evaluator/sender by hand).
 */
export async function startTestServer(toml = "", opts: { background?: boolean; project?: string } = {}): Promise<TestServer> {
  const { dir, cleanup } = tempDir();
  const text = `[database]\nurl = "file:${join(dir, "vf.db")}"\n${toml}`;
  const loaded: LoadedConfig = { config: parseConfigText(text, "test.toml"), file: "test.toml", embeddedDefaults: false };
  const running = await startVibefollow({ loaded, listen: "127.0.0.1:0", background: opts.background });
  const project = opts.project ?? loaded.config.projects[0]!.id;
  const { key } = await createKey(running.ctx.database, project, "test");
  const api: TestServer["api"] = (path, init = {}) =>
    fetch(running.url + path, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...init.headers },
      body: init.body === undefined ? undefined : typeof init.body === "string" ? init.body : JSON.stringify(init.body),
    });
  return {
    ...running,
    dir,
    apiKey: key,
    api,
    async close() {
      await running.stop();
      cleanup();
    },
  };
}
