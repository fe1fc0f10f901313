import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { seedReal, startWorld } from "./support";

const CLI = join(import.meta.dir, "../../src/cli/index.ts");

async function cli(...args: string[]) {
  const p = Bun.spawn([process.execPath, CLI, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, VIBEFOLLOW_LOG: "silent" } });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

test("vibefollow evaluate --dry-run, --preview, then a real run", async () => {
  const w = await startWorld();
  const config = await seedReal(w);
  const dry = await cli("evaluate", "--dry-run", "--config", config);
  expect(dry.err).toBe("");
  expect(dry.code).toBe(0);
  expect(dry.out).toContain("acme/welcome (welcome): 30 new matches");
  expect(dry.out).toContain("acme/inactive_14d (inactivity): 20 new matches");
  expect(dry.out).toContain("dry run, nothing recorded");
  expect(await w.sql("SELECT count(*) AS n FROM rule_firings")).toEqual([{ n: 0 }]);

  const preview = await cli("evaluate", "--preview", "inactive_14d", "--limit", "3", "--config", config);
  expect(preview.code).toBe(0);
  expect(preview.out).toContain("acme/inactive_14d: 20 user(s) would match now");
  expect(preview.out).toContain("  u30\toccasion ");
  expect(preview.out).toContain("… and 17 more");
  expect((await cli("evaluate", "--preview", "nope", "--config", config)).code).toBe(2);
  // --limit must be a whole number SQLite can take, on every command that has it (not a database error).
  for (const args of [["evaluate", "--preview", "inactive_14d"], ["drafts", "list"], ["quarantine", "list"]]) {
    for (const bad of ["1e308", "0", "2.5", "x"]) {
      const r = await cli(...args, "--limit", bad, "--config", config);
      expect({ args, bad, code: r.code, err: r.err.trim() }).toEqual({ args, bad, code: 2, err: expect.stringContaining("--limit must be a positive integer") });
    }
  }

  // Acknowledged (202) but not applied yet — no normaliser runs here: the real run applies them first.
  for (const [path, body] of [
    ["/api/v1/users", { external_user_id: "queued1", email: "queued1@example.com" }],
    ["/api/v1/events", { external_user_id: "queued1", name: "user_signed_up", properties: { plan: "free", source: "ads" } }],
  ] as const) expect((await w.server.api(path, { body })).status).toBe(202);
  expect(await w.sql("SELECT count(*) AS n FROM ingest_queue")).toEqual([{ n: 2 }]);

  const real = await cli("evaluate", "--project", "acme", "--config", config);
  expect(real.code).toBe(0);
  expect(real.out).toContain("acme/welcome (welcome): 31 new matches");
  expect(await w.sql("SELECT count(*) AS n FROM ingest_queue")).toEqual([{ n: 0 }]);
  expect(await w.sql("SELECT count(*) AS n FROM drafts d JOIN tracked_users u ON u.id = d.user_id WHERE u.external_user_id = 'queued1'")).toEqual([{ n: 1 }]);
  expect(await w.sql("SELECT count(*) AS n FROM rule_firings WHERE rule_id = 'welcome'")).toEqual([{ n: 31 }]);
  // The real run made drafts too (the same wiring as the server).
  expect(await w.sql("SELECT count(*) AS n FROM drafts WHERE rule_id = 'welcome'")).toEqual([{ n: 31 }]);
  const again = await cli("evaluate", "--config", config);
  expect(again.out).toContain("acme/welcome (welcome): 0 new matches");
}, 120_000);

test("vibefollow evaluate raises draft.created webhooks for the drafts it makes, as the server does", async () => {
  const w = await startWorld();
  const config = await seedReal(w);
  // The same database, now with an endpoint subscribed to draft.created (the CLI only records deliveries).
  writeFileSync(config, `${readFileSync(config, "utf8")}[[projects.webhooks]]\nurl = "http://127.0.0.1:9/hook"\nsecret = "a-webhook-secret-of-32-characters"\nevents = ["draft.created"]\n`);
  const run = await cli("evaluate", "--project", "acme", "--config", config);
  expect(run.err).toBe("");
  expect(run.code).toBe(0);
  const drafts = await w.sql("SELECT count(*) AS n FROM drafts");
  expect(drafts[0]!.n).toBeGreaterThan(0);
  expect(await w.sql("SELECT count(*) AS n FROM webhook_deliveries WHERE event_type = 'draft.created'")).toEqual(drafts);
}, 120_000);
