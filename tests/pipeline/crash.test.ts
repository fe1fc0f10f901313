import { afterAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load";
import { openDatabase, type Database } from "../../src/db/client";
import { migrate } from "../../src/db/migrate";
import { syncProjects } from "../../src/keys/projects";
import { createKey } from "../../src/keys/service";
import { tempDir } from "../support/harness";
import { count, rows } from "./support";

const tmp = tempDir("vf-crash-");
afterAll(() => tmp.cleanup());

const USERS = 2_000;
const QUEUED_TRACKS = 60_000;
const GHOST_TRACKS = 1_000;

async function startServer(configPath: string): Promise<{ proc: Subprocess<"ignore", "pipe", "pipe">; url: string }> {
  const proc = Bun.spawn(["node_modules/.bin/bun", "src/cli/index.ts", "serve", "--config", configPath, "--listen", "127.0.0.1:0"], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, VIBEFOLLOW_LOG: "silent" },
  });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!/listening on (\S+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited: ${text} ${await new Response(proc.stderr).text()}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { proc, url: /listening on (\S+)/.exec(text)![1]! };
}

const depth = async (db: Database) => count(db, "SELECT count(*) AS n FROM ingest_queue");

test("kill -9 during heavy processing, restart, drain: every acknowledged item applied exactly once", async () => {
  const configPath = join(tmp.dir, "vf.toml");
  writeFileSync(configPath, `[database]\nurl = "file:${join(tmp.dir, "vf.db")}"\n[normaliser]\nbatch_size = 500\n[[projects]]\nid = "acme"\n`);
  const loaded = loadConfig(configPath);
  const db = await openDatabase(loaded.config.database);
  await migrate(db);
  await syncProjects(db, loaded.config);
  const { key } = await createKey(db, "acme", "crash");

  // Acknowledged before the server starts: identifies, then tracks with a unique marker `n` each.
  const received = Date.now();
  const queued: [string, string][] = [];
  for (let u = 0; u < USERS; u++) queued.push(["identify", JSON.stringify({ external_user_id: `c-${u}`, traits: { plan: "free" } })]);
  for (let n = 0; n < QUEUED_TRACKS; n++) {
    const name = n % 10 === 0 ? "feature_used" : "page_viewed";
    queued.push(["track", JSON.stringify({ external_user_id: `c-${n % USERS}`, name, properties: { n, feature: "f" } })]);
  }
  for (let g = 0; g < GHOST_TRACKS; g++) queued.push(["track", JSON.stringify({ external_user_id: `ghost-${g % 50}`, name: "visit", properties: { n: -1 - g } })]);
  for (let i = 0; i < queued.length; i += 5_000) {
    await db.execute({
      sql: "INSERT INTO ingest_queue (project_id, kind, source, payload, received_at) SELECT 'acme', j.value ->> 0, 'api', j.value ->> 1, ? FROM json_each(?) j",
      args: [received, JSON.stringify(queued.slice(i, i + 5_000))],
    });
  }
  const initial = await depth(db);
  expect(initial).toBe(queued.length);

  // While the backlog drains, more traffic arrives over HTTP; only 202s count as acknowledged.
  const acked = new Set<number>();
  let nextMarker = 1_000_000;
  let killedAt = -1;
  let server = await startServer(configPath);
  const traffic = (async () => {
    while (killedAt < 0) {
      const markers = Array.from({ length: 50 }, () => nextMarker++);
      const events = markers.map((n) => ({ external_user_id: `c-${n % USERS}`, name: "http_event", properties: { n } }));
      try {
        const res = await fetch(server.url + "/api/v1/events/batch", {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ events }),
        });
        if (res.status === 202) for (const n of markers) acked.add(n);
      } catch {
        // The connection died with the process: not acknowledged.
      }
    }
  })();
  for (;;) {
    const d = await depth(db);
    // Mid-backlog, once HTTP traffic is being acknowledged (the first request waits for an Argon2id check and
    // for a normaliser batch to finish).
    if (d < initial * 0.7 && d > 0 && acked.size > 0) {
      server.proc.kill(9);
      killedAt = d;
      break;
    }
    if (d === 0) throw new Error("the queue drained before the kill: make the backlog bigger");
    await Bun.sleep(2);
  }
  await server.proc.exited;
  await traffic;
  expect(killedAt).toBeGreaterThan(0); // killed in the middle of the backlog

  // Restart and let it finish.
  server = await startServer(configPath);
  for (let i = 0; i < 3000 && (await depth(db)) > 0; i++) await Bun.sleep(10);
  server.proc.kill("SIGTERM");
  await server.proc.exited;
  expect(await depth(db)).toBe(0);

  const perMarker = await rows(db, "SELECT json_extract(properties, '$.n') AS n, count(*) AS c FROM events GROUP BY 1 HAVING c > 1 LIMIT 5");
  expect(perMarker).toEqual([]); // nothing applied twice
  expect(await count(db, "SELECT count(*) AS n FROM events WHERE name IN ('page_viewed', 'feature_used')")).toBe(QUEUED_TRACKS);
  const httpStored = new Set((await rows(db, "SELECT json_extract(properties, '$.n') AS n FROM events WHERE name = 'http_event'")).map((r) => Number(r.n)));
  for (const n of acked) if (!httpStored.has(n)) throw new Error(`acknowledged event ${n} lost`);
  expect(acked.size).toBeGreaterThan(0);
  expect(await count(db, "SELECT count(*) AS n FROM event_buffer")).toBe(GHOST_TRACKS);
  expect(await count(db, "SELECT count(*) AS n FROM tracked_users")).toBe(USERS);
  expect(await count(db, "SELECT sum(event_count) AS n FROM tracked_users")).toBe(QUEUED_TRACKS + httpStored.size);
  expect(await count(db, "SELECT sum(count) AS n FROM feature_usage")).toBe(QUEUED_TRACKS / 10);
  db.close();
}, 60_000);
