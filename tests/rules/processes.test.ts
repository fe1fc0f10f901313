import { expect, test } from "bun:test";
import { join } from "node:path";
import { findMissedSlot, listRuns } from "../../src/rules";
import { markInterrupted } from "../../src/rules/runs";
import { seedReal, startWorld, type World } from "./support";

const BUN = process.execPath;
const SCRIPT = join(import.meta.dir, "fixtures/run-evaluator.ts");

function spawnRun(config: string, ...args: string[]) {
  return Bun.spawn([BUN, SCRIPT, config, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, VIBEFOLLOW_LOG: "silent" } });
}

async function firingCounts(w: World): Promise<Record<string, number>> {
  const rows = await w.sql("SELECT rule_id, count(*) AS n FROM rule_firings GROUP BY rule_id");
  return Object.fromEntries(rows.map((r) => [String(r.rule_id), Number(r.n)]));
}

test("two processes evaluating the same database file at once fire every occasion exactly once", async () => {
  const w = await startWorld();
  const config = await seedReal(w);
  const expected = await w.evaluate({ dryRun: true });
  expect(expected.total).toBe(50); // 30 welcome + 20 inactive (no first_feature: the old users never signed up)

  const [a, b] = [spawnRun(config), spawnRun(config)];
  const [ea, eb] = await Promise.all([a.exited, b.exited]);
  const out = await Promise.all([new Response(a.stdout).text(), new Response(b.stdout).text()]);
  expect([ea, eb], await new Response(a.stderr).text()).toEqual([0, 0]);
  const results = out.map((t) => JSON.parse(t) as { total: number; status: string });
  expect(results.map((r) => r.status)).toEqual(["ok", "ok"]);
  expect(results[0]!.total + results[1]!.total).toBe(expected.total);
  const counts = await firingCounts(w);
  expect(counts).toEqual(Object.fromEntries(expected.rules.filter((r) => r.matches > 0).map((r) => [r.rule, r.matches])));
}, 30_000);

test("a process killed mid-run loses only the rule in flight; the next run completes it with no duplicate", async () => {
  const w = await startWorld();
  const config = await seedReal(w);
  const expected = await w.evaluate({ dryRun: true });
  const child = spawnRun(config, "--crash-at", "inactive_14d");
  expect(await child.exited).not.toBe(0);
  expect(child.signalCode).toBe("SIGKILL");

  const afterCrash = await firingCounts(w);
  expect(afterCrash.welcome).toBe(30); // committed before the crash
  expect(afterCrash.inactive_14d).toBeUndefined(); // its transaction died with the process
  const [stale] = await listRuns(w.server.ctx.database);
  expect(stale!.status).toBe("running");
  expect(await markInterrupted(w.server.ctx.database)).toBe(1);

  const rerun = await w.evaluate();
  expect(rerun.rules.find((r) => r.rule === "welcome")!.matches).toBe(0);
  expect(rerun.rules.find((r) => r.rule === "inactive_14d")!.matches).toBe(20);
  expect(await firingCounts(w)).toEqual(Object.fromEntries(expected.rules.filter((r) => r.matches > 0).map((r) => [r.rule, r.matches])));
  expect(await findMissedSlot(w.server.ctx.database, "0 * * * *", w.clock.now())).toBeDefined(); // manual runs fill no slot
}, 30_000);
