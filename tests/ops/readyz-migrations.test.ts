import { afterEach, expect, test } from "bun:test";
import { migrations } from "../../migrations";
import { startTestServer, type TestServer } from "../support/harness";

// SPEC §14: GET /readyz is ready only when the database is reachable and every migration is applied.
// src/db/migrate.ts records each applied migration as a row of schema_migrations (tag, applied_at).
const open: TestServer[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

async function readyz(server: TestServer): Promise<{ status: number; body: unknown }> {
  const res = await fetch(server.url + "/readyz");
  return { status: res.status, body: await res.json() };
}

test("/readyz: 200 when every migration is recorded, 503 migrations_pending when one is missing, 200 again once it is back", async () => {
  const server = await startTestServer("", { background: false });
  open.push(server);
  const tags = (await server.ctx.database.read("SELECT tag FROM schema_migrations ORDER BY tag")).rows.map((r) => String(r.tag));
  expect(tags).toEqual(migrations.map((m) => m.tag).sort());
  expect(await readyz(server)).toEqual({ status: 200, body: { status: "ok" } });

  const last = migrations[migrations.length - 1]!.tag;
  const [row] = (await server.ctx.database.read({ sql: "SELECT applied_at FROM schema_migrations WHERE tag = ?", args: [last] })).rows;
  await server.ctx.database.execute({ sql: "DELETE FROM schema_migrations WHERE tag = ?", args: [last] });
  expect(await readyz(server)).toEqual({ status: 503, body: { status: "migrations_pending" } });
  // Liveness is unaffected: the process is alive, just not ready.
  expect((await fetch(server.url + "/healthz")).status).toBe(200);

  await server.ctx.database.execute({ sql: "INSERT INTO schema_migrations (tag, applied_at) VALUES (?, ?)", args: [last, Number(row!.applied_at)] });
  expect(await readyz(server)).toEqual({ status: 200, body: { status: "ok" } });
});

test("/readyz: the first migration's row missing is just as pending", async () => {
  const server = await startTestServer("", { background: false });
  open.push(server);
  await server.ctx.database.execute({ sql: "DELETE FROM schema_migrations WHERE tag = ?", args: [migrations[0]!.tag] });
  expect(await readyz(server)).toEqual({ status: 503, body: { status: "migrations_pending" } });
});
