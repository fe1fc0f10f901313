import { afterAll, beforeAll, expect, test } from "bun:test";
import { createClient } from "@libsql/client";
import { copyFileSync, renameSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { applyRetention } from "../../src/ops/retention";
import { backupDatabase } from "../../src/ops/backup";
import { parseConfigText } from "../../src/config/load";
import { drainQueue } from "../../src/pipeline";
import { startTestServer, type TestServer } from "../support/harness";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer("", { background: false });
});
afterAll(() => server.close());

test("GET /metrics speaks the Prometheus text format and counts ingest by endpoint and status", async () => {
  expect((await server.api("/api/v1/users", { body: { external_user_id: "u1", email: "u1@example.com" } })).status).toBe(202);
  expect((await server.api("/api/v1/events", { body: { external_user_id: "u1", name: "" } })).status).toBe(422);
  const before = await (await fetch(server.url + "/metrics")).text();
  expect(before).toContain("# TYPE vibefollow_queue_depth gauge");
  expect(before).toMatch(/vibefollow_queue_depth 1\n/);
  expect(before).toMatch(/vibefollow_ingest_requests_total\{endpoint="[a-z_]+",status="202"\} [1-9]/);
  expect(before).toMatch(/vibefollow_ingest_requests_total\{endpoint="[a-z_]+",status="422"\} [1-9]/);
  await drainQueue(server.ctx);
  const res = await fetch(server.url + "/metrics");
  expect(res.headers.get("content-type")).toStartWith("text/plain");
  const after = await res.text();
  expect(after).toMatch(/vibefollow_queue_depth 0\n/);
  expect(after).toMatch(/vibefollow_normaliser_items_total\{outcome="applied"\} [1-9]/);
});

test("backup writes a consistent standalone copy while the server runs, and refuses to overwrite", async () => {
  for (let i = 0; i < 20; i++) await server.api("/api/v1/users", { body: { external_user_id: `b${i}` } });
  await drainQueue(server.ctx);
  const target = join(server.dir, "backup.db");
  const { bytes } = await backupDatabase(server.ctx.database, target);
  expect(bytes).toBeGreaterThan(0);
  const copy = createClient({ url: `file:${target}` });
  const n = (await copy.execute("SELECT count(*) AS n FROM tracked_users WHERE external_user_id LIKE 'b%'")).rows[0]!.n;
  copy.close();
  expect(Number(n)).toBe(20);
  await expect(backupDatabase(server.ctx.database, target)).rejects.toThrow("already exists");
});

test("retention deletes only events older than retention_days, and nothing when it is 0", async () => {
  const db = server.ctx.database;
  const day = 86_400_000;
  const t = Date.now();
  await db.execute({ sql: "INSERT INTO events (project_id, user_id, name, occurred_at, received_at, payload) VALUES ('default', 1, 'old', ?, ?, '{}'), ('default', 1, 'new', ?, ?, '{}')", args: [t - 40 * day, t, t - day, t] });
  const keep = parseConfigText(`[[projects]]\nid = "default"\n`);
  expect(await applyRetention(db, keep, t)).toEqual({});
  const thirty = parseConfigText(`[[projects]]\nid = "default"\nretention_days = 30\n`);
  expect((await applyRetention(db, thirty, t)).default).toBeGreaterThanOrEqual(1);
  const names = (await db.read("SELECT name FROM events WHERE name IN ('old','new')")).rows.map((r) => r.name);
  expect(names).toEqual(["new"]);
});

test("/readyz: ok; 503 once the database file is replaced or emptied (open connections would still answer from the old one)", async () => {
  const s = await startTestServer("", { background: false });
  try {
    const file = join(s.dir, "vf.db");
    expect((await fetch(s.url + "/readyz")).status).toBe(200);
    // Replaced: the same path now names another file; this process's connections still write to the old one.
    renameSync(file, file + ".moved");
    copyFileSync(file + ".moved", file);
    const replaced = await fetch(s.url + "/readyz");
    expect(replaced.status).toBe(503);
    expect(await replaced.json()).toEqual({ status: "database_unreachable" });
    // Put back, then emptied in place.
    renameSync(file + ".moved", file);
    expect((await fetch(s.url + "/readyz")).status).toBe(200);
    truncateSync(file, 0);
    expect((await fetch(s.url + "/readyz")).status).toBe(503);
    expect((await fetch(s.url + "/healthz")).status).toBe(200);
  } finally {
    await s.close().catch(() => undefined);
  }
});

test("ingest: once the database file is deleted or replaced, a request is not acknowledged (500 server_error, not a 202 into a file no one opens again); 202 again once it is back", async () => {
  const s = await startTestServer("", { background: false });
  try {
    const file = join(s.dir, "vf.db");
    const track = (name: string) => s.api("/api/v1/events", { body: { external_user_id: "u1", name } });
    expect((await track("before")).status).toBe(202);
    renameSync(file, file + ".moved");
    const gone = await track("while_gone");
    expect(gone.status).toBe(500);
    expect(((await gone.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe("server_error");
    expect((await fetch(s.url + "/readyz")).status).toBe(503);
    // A new, empty file at the path is not the one this process opened either.
    copyFileSync(file + ".moved", file);
    expect((await track("while_replaced")).status).toBe(500);
    renameSync(file + ".moved", file);
    expect((await track("after")).status).toBe(202);
  } finally {
    await s.close().catch(() => undefined);
  }
});
