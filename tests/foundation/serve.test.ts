import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, symlinkSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { loadConfig, parseConfigText } from "../../src/config/load";
import { verifyAdmin } from "../../src/dashboard/accounts";
import { openDatabase } from "../../src/db/client";
import { KeyVerifier } from "../../src/keys/service";
import { runCli } from "../../src/cli/index";
import { CLI, cleanEnv, emptyDir, processImage, startServe, waitForStatus } from "./support";

// Real processes on a shared machine: the same allowance as `npm test` (--timeout 60000) when run directly.
setDefaultTimeout(60_000);

/** `vibefollow serve` as a real process: embedded-default first start, configured listen, clean shutdown. */
const dirs: { cleanup(): void }[] = [];
afterAll(() => dirs.forEach((d) => d.cleanup()));
function dir() {
  const d = emptyDir();
  dirs.push(d);
  return d.dir;
}

function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port!;
  s.stop(true);
  return port;
}

test("embedded defaults listen on 127.0.0.1:8080 with ./data/vibefollow.db, one review-mode project, the outbox", () => {
  const { config, embeddedDefaults } = loadConfig(undefined, {});
  expect(embeddedDefaults).toBe(true);
  expect(config.server.listen).toBe("127.0.0.1:8080");
  expect(config.database.url).toBe("file:./data/vibefollow.db");
  expect(config.database.synchronous).toBe("full");
  expect(config.projects.map((p) => [p.id, p.autopilot])).toEqual([["default", false]]);
  expect(config.smtp).toBeUndefined();
});

test("a project's display name defaults to its id (the dashboard's project switcher shows it)", () => {
  const config = parseConfigText('[[projects]]\nid = "acme"\n[[projects]]\nid = "beta"\nname = "Beta Corp"\n');
  expect(config.projects.map((p) => p.name)).toEqual(["acme", "Beta Corp"]);
});

test("first start with no config: creates the default project, prints a working key and password once", async () => {
  const cwd = dir();
  const first = await startServe([], { cwd });
  expect(await waitForStatus(first.url + "/readyz", 200)).toBeLessThan(5_000);
  const key = /API key \(project "default"\):\s+(sk_live_[0-9a-z]+)/.exec(first.stdout())?.[1];
  expect(first.stdout()).toMatch(/Dashboard user:\s+admin\n/);
  // Labelled "password", as a script scraping the first start (or someone reading docker logs) looks for it.
  const password = /password:\s+(\S+)/i.exec(first.stdout())?.[1];
  expect(key).toBeDefined();
  expect(password).toBeDefined();
  expect(existsSync(join(cwd, "data/vibefollow.db"))).toBe(true);
  expect(await first.stop("SIGTERM")).toBe(0);
  expect(first.stdout()).toContain('"msg":"stopped"');

  const second = await startServe([], { cwd });
  expect((await fetch(second.url + "/readyz")).status).toBe(200);
  expect(second.stdout()).not.toContain("sk_live_");
  expect(second.stdout()).not.toContain("first start");
  expect(await second.stop("SIGINT")).toBe(0);
  expect(second.stdout()).toContain('"msg":"stopped"');

  const database = await openDatabase({ ...loadConfig(undefined, {}).config.database, url: `file:${join(cwd, "data/vibefollow.db")}` });
  try {
    expect((await new KeyVerifier(database).verify(key!))?.projectId).toBe("default");
    expect((await verifyAdmin(database, "admin", password!))?.role).toBe("admin");
    expect((await database.read("SELECT id FROM projects")).rows.map((r) => r.id)).toEqual(["default"]);
    expect((await database.read("SELECT count(*) AS n FROM api_keys")).rows[0]!.n).toBe(1);
  } finally {
    database.close();
  }
});

test("serves on the configured listen address and creates the database's directory", async () => {
  const cwd = dir();
  // startServe passes --listen 127.0.0.1:0; the file's address is what a plain `serve` uses, so run one. The port
  // is picked here and bound by serve later: should another process take it meanwhile, serve exits saying so, and
  // another port is tried.
  const serve = async (tries = 1): Promise<Bun.Subprocess<"ignore", "pipe", "pipe">> => {
    const port = freePort();
    writeFileSync(join(cwd, "vibefollow.toml"), `[server]\nlisten = "127.0.0.1:${port}"\n[database]\nurl = "file:./nested/deeper/vf.db"\n`);
    const proc = Bun.spawn([process.execPath, CLI, "serve"], { cwd, stdout: "pipe", stderr: "pipe", env: cleanEnv() });
    const ready = waitForStatus(`http://127.0.0.1:${port}/readyz`, 200, 20_000).then(() => "ready" as const);
    if ((await Promise.race([ready, proc.exited])) === "ready") return proc;
    void ready.catch(() => undefined);
    const stderr = await new Response(proc.stderr).text();
    if (!stderr.includes(`port ${port} in use`) || tries === 5) throw new Error(`serve exited before it was ready:\n${stderr}`);
    return serve(tries + 1);
  };
  const proc = await serve();
  try {
    expect(existsSync(join(cwd, "nested/deeper/vf.db"))).toBe(true);
  } finally {
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }
  const out = await new Response(proc.stdout).text();
  expect(out).not.toContain("sk_live_"); // a config file means no first-start provisioning
});

test("a second serve on a port already served by Vibefollow fails to start instead of sharing it", async () => {
  const first = await startServe([], { cwd: dir() });
  try {
    const { port } = new URL(first.url);
    const second = Bun.spawn([process.execPath, CLI, "serve", "--listen", `127.0.0.1:${port}`], { cwd: dir(), stdout: "pipe", stderr: "pipe", env: cleanEnv() });
    const code = await Promise.race([second.exited, Bun.sleep(15_000).then(() => "still running")]);
    if (code === "still running") second.kill("SIGKILL");
    expect(code).toBe(1);
    expect(await new Response(second.stderr).text()).toContain(`port ${port} in use`);
  } finally {
    await first.stop("SIGTERM");
  }
});

test("a second serve on the same database file (another port) is refused, exit 1, naming the file; after a kill -9 or a stop of the first, serve starts", async () => {
  // Two servers on one file would each run start-up crash recovery on the other's live work (re-queue the
  // messages it is sending) and both evaluate and send from the same tables: the second is refused instead.
  const cwd = dir();
  const config = join(cwd, "vf.toml");
  writeFileSync(config, `[database]\nurl = "file:${join(cwd, "vf.db")}"\n[[projects]]\nid = "acme"\n`);
  const first = await startServe(["--config", config], { cwd });
  try {
    const second = Bun.spawn([process.execPath, CLI, "serve", "--config", config, "--listen", "127.0.0.1:0"], { cwd, stdout: "pipe", stderr: "pipe", env: cleanEnv() });
    const code = await Promise.race([second.exited, Bun.sleep(15_000).then(() => "still running")]);
    if (code === "still running") second.kill("SIGKILL");
    expect(code).toBe(1);
    expect(await new Response(second.stderr).text()).toContain(`another vibefollow serve is already running on the database ${join(cwd, "vf.db")}`);
    expect((await fetch(first.url + "/readyz")).status).toBe(200); // the first one serves on, untouched
    // The same file under another name (a symlink) is the same database.
    symlinkSync(join(cwd, "vf.db"), join(cwd, "alias.db"));
    const aliased = join(cwd, "alias.toml");
    writeFileSync(aliased, `[database]\nurl = "file:${join(cwd, "alias.db")}"\n[[projects]]\nid = "acme"\n`);
    const third = Bun.spawn([process.execPath, CLI, "serve", "--config", aliased, "--listen", "127.0.0.1:0"], { cwd, stdout: "pipe", stderr: "pipe", env: cleanEnv() });
    const thirdCode = await Promise.race([third.exited, Bun.sleep(15_000).then(() => "still running")]);
    if (thirdCode === "still running") third.kill("SIGKILL");
    expect(thirdCode).toBe(1);

    // A CLI command beside the running server still works (only serve takes the lock).
    expect(await runCli(["evaluate", "--config", config])).toBe(0);
  } finally {
    // The kernel drops the lock with the process, however it ends: after kill -9 the next serve starts.
    expect(await first.stop("SIGKILL")).not.toBe(0);
  }
  const again = await startServe(["--config", config], { cwd });
  expect(await again.stop("SIGTERM")).toBe(0);
  const third = await startServe(["--config", config], { cwd });
  expect(await third.stop("SIGTERM")).toBe(0);
});

test("SIGTERM with an idle keep-alive connection open still stops promptly, exit 0", async () => {
  const served = await startServe([], { cwd: dir() });
  const { port } = new URL(served.url);
  const socket = connect(Number(port), "127.0.0.1");
  const answered = new Promise<string>((resolve) => socket.once("data", (d) => resolve(d.toString())));
  socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n");
  expect(await answered).toStartWith("HTTP/1.1 200");
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const t0 = performance.now();
  expect(await served.stop("SIGTERM")).toBe(0);
  expect(performance.now() - t0).toBeLessThan(5_000);
  await closed;
  expect(served.stdout()).toContain('"msg":"shutting down","signal":"SIGTERM"');
  expect(served.stdout()).toContain('"msg":"stopped"');
});

test("serve runs with the allocator's purge off (MIMALLOC_PURGE_DELAY=-1): the same process, arguments and signals; a value of one's own is kept", async () => {
  const served = await startServe([], { cwd: dir(), env: { MIMALLOC_PURGE_DELAY: undefined } });
  try {
    // The pid Bun.spawn started is the one serving, and the kernel's view of it has the setting: execve in place.
    const image = processImage(served.proc.pid);
    expect(image.env).toContain("MIMALLOC_PURGE_DELAY=-1");
    expect(image.argv.slice(1)).toEqual([CLI, "serve", "--listen", "127.0.0.1:0"]);
    expect((await fetch(`${served.url}/readyz`)).status).toBe(200);
  } finally {
    expect(await served.stop("SIGTERM")).toBe(0);
  }
  expect(served.stdout()).toContain('"msg":"stopped"');

  const own = await startServe([], { cwd: dir(), env: { MIMALLOC_PURGE_DELAY: "10" } });
  try {
    const { env } = processImage(own.proc.pid);
    expect(env).toContain("MIMALLOC_PURGE_DELAY=10");
    expect(env).not.toContain("MIMALLOC_PURGE_DELAY=-1");
  } finally {
    expect(await own.stop("SIGTERM")).toBe(0);
  }
});

test("SIGTERM has a listener at every moment from start-up to shutdown (a signal sent as soon as the listening line is read is not fatal)", async () => {
  // In-process, so that each removal of a listener can be seen: were there a moment with none, the runtime would
  // restore the default action, and a signal then would kill the process (exit 143 instead of a clean stop).
  const cwd = dir();
  // An absolute path: serve runs in this process, whose working directory is the repository.
  writeFileSync(join(cwd, "vibefollow.toml"), `[database]\nurl = "file:${join(cwd, "vf.db")}"\n`);
  const baseline = process.listenerCount("SIGTERM");
  const afterRemoval: number[] = [];
  const off = process.off;
  process.off = function (this: NodeJS.Process, event: string | symbol, listener: (...args: unknown[]) => void) {
    const result = off.call(this, event, listener);
    if (event === "SIGTERM") afterRemoval.push(process.listenerCount("SIGTERM") - baseline);
    return result;
  } as typeof process.off;
  const exit = runCli(["serve", "--config", join(cwd, "vibefollow.toml"), "--listen", "127.0.0.1:0"]);
  try {
    for (let i = 0; i < 200 && afterRemoval.length === 0; i++) await Bun.sleep(25);
    expect(afterRemoval.length).toBeGreaterThan(0); // the start-up listener was taken out: serve is up
    expect(Math.min(...afterRemoval)).toBeGreaterThan(0);
  } finally {
    process.off = off;
    process.emit("SIGTERM", "SIGTERM");
    expect(await exit).toBe(0);
  }
});

test("VIBEFOLLOW_LISTEN and VIBEFOLLOW_DATABASE_URL override the file (for containers)", () => {
  const { config } = loadConfig(undefined, { VIBEFOLLOW_LISTEN: "0.0.0.0:9999", VIBEFOLLOW_DATABASE_URL: "file:/data/vibefollow.db" });
  expect(config.server.listen).toBe("0.0.0.0:9999");
  expect(config.database.url).toBe("file:/data/vibefollow.db");
  const bad = () => loadConfig(undefined, { VIBEFOLLOW_LISTEN: "nope" });
  expect(bad).toThrow('server.listen: expected an address "host:port"');
});

test("libsql:// and http:// database URLs are accepted by the config (the scale-out path)", () => {
  const remote = parseConfigText('[database]\nurl = "libsql://vf-acme.example.com"\nauth_token = "${VF_TEST_TOKEN}"\n', "x.toml", { VF_TEST_TOKEN: "t0k" });
  expect(remote.database.url).toBe("libsql://vf-acme.example.com");
  expect(remote.database.auth_token).toBe("t0k");
  expect(parseConfigText('[database]\nurl = "http://127.0.0.1:8081"\n').database.url).toBe("http://127.0.0.1:8081");
  expect(parseConfigText('[database]\nurl = "https://db.example.com"\n').database.url).toBe("https://db.example.com");
});

test("SIGTERM under load: every request answered 202 is in the database after a clean exit", async () => {
  const cwd = dir();
  const served = await startServe([], { cwd });
  const key = /API key \(project "default"\):\s+(sk_live_[0-9a-z]+)/.exec(served.stdout())![1]!;
  const acknowledged: string[] = [];
  // One request first, so the key's Argon2id check is behind us and the clients below hit the hot path.
  const warm = await fetch(served.url + "/api/v1/users", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ external_user_id: "warm-up" }),
  });
  expect(warm.status).toBe(202);
  let n = 0;
  // 32 clients identify users back to back until the server stops accepting; SIGTERM lands while requests and
  // commits are in flight.
  const client = async () => {
    for (;;) {
      const id = `u${n++}`;
      try {
        const res = await fetch(served.url + "/api/v1/users", {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ external_user_id: id, email: `${id}@example.com` }),
        });
        if (res.status === 202) acknowledged.push(id);
        else await res.arrayBuffer();
      } catch {
        return; // the server stopped accepting: this client is done
      }
    }
  };
  const clients = Array.from({ length: 32 }, client);
  // Under load the first answers can take a second (the key's first Argon2id check): stop once the server is
  // answering, not after a fixed sleep.
  const deadline = Date.now() + 30_000;
  while (acknowledged.length <= 50 && Date.now() < deadline) await Bun.sleep(10);
  expect(await served.stop("SIGTERM")).toBe(0);
  await Promise.all(clients);
  expect(served.stdout()).toContain('"msg":"stopped"');
  expect(acknowledged.length).toBeGreaterThan(50);

  const database = await openDatabase({ url: `file:${join(cwd, "data/vibefollow.db")}`, synchronous: "full", busy_timeout: 5000 });
  try {
    const stored = new Set<string>();
    for (const r of (await database.read("SELECT external_user_id AS id FROM tracked_users")).rows) stored.add(String(r.id));
    for (const r of (await database.read("SELECT json_extract(payload, '$.external_user_id') AS id FROM ingest_queue")).rows) stored.add(String(r.id));
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
  } finally {
    database.close();
  }
});

test("without public_url, links in emails point at the address served: serve --listen and port 0 included", async () => {
  const cwd = dir();
  // The file's listen address is not the one served (startServe passes --listen 127.0.0.1:0); the evaluator runs
  // every second so that a welcome draft, and its unsubscribe link, is made inside this serve.
  writeFileSync(join(cwd, "vibefollow.toml"), `[server]\nlisten = "127.0.0.1:8080"\n[evaluator]\nschedule = "* * * * * *"\n[[projects]]\nid = "default"\n`);
  const created = Bun.spawn([process.execPath, CLI, "keys", "create", "--name", "links"], { cwd, stdout: "pipe", stderr: "pipe", env: cleanEnv() });
  const key = /sk_live_[0-9a-z]+/.exec(await new Response(created.stdout).text())![0];
  expect(await created.exited).toBe(0);
  const served = await startServe([], { cwd });
  try {
    const post = (path: string, body: object) =>
      fetch(served.url + path, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    expect((await post("/api/v1/users", { external_user_id: "ann", email: "ann@example.com" })).status).toBe(202);
    expect((await post("/api/v1/events", { external_user_id: "ann", name: "user_signed_up", properties: { plan: "free", source: "test" } })).status).toBe(202);
    const database = await openDatabase({ url: `file:${join(cwd, "data/vibefollow.db")}`, synchronous: "full", busy_timeout: 5000 });
    try {
      let text = "";
      for (const deadline = Date.now() + 30_000; !text && Date.now() < deadline; await Bun.sleep(100)) {
        text = String((await database.read("SELECT text_body FROM drafts")).rows[0]?.text_body ?? "");
      }
      expect(text).toContain(`${served.url}/u/`);
      expect(text).not.toContain("127.0.0.1:8080");
    } finally {
      database.close();
    }
  } finally {
    expect(await served.stop()).toBe(0);
  }
  expect(served.stdout()).not.toContain("links in emails point at http://127.0.0.1:8080");
});
