import { expect, test } from "bun:test";
import { createEvaluator, evaluatorService, findMissedSlot, listRuns, previousSlot } from "../../src/rules";
import { setClock, systemClock } from "../../src/lib/clock";
import { HOUR, MINUTE, signUp, startWorld, T0 } from "./support";

test("previousSlot follows the cron expression in UTC", () => {
  expect(previousSlot("0 * * * *", Date.parse("2026-03-02T10:30:00Z"))).toBe(Date.parse("2026-03-02T10:00:00Z"));
  expect(previousSlot("0 * * * *", Date.parse("2026-03-02T10:00:00Z"))).toBe(Date.parse("2026-03-02T10:00:00Z"));
  expect(previousSlot("30 6 * * *", Date.parse("2026-03-02T05:00:00Z"))).toBe(Date.parse("2026-03-01T06:30:00Z"));
});

test("a slot missed while down runs at start-up, once; a finished slot is not run again", async () => {
  const w = await startWorld();
  await signUp(w, "ann");
  await w.settle();
  const { database, config } = w.server.ctx;
  const evaluator = createEvaluator(w.server.ctx);
  const slot = Date.parse("2026-03-02T08:00:00Z");
  expect(T0).toBe(slot);
  w.clock.set(slot + 20 * MINUTE);
  expect(await findMissedSlot(database, config.evaluator.schedule, w.clock.now())).toBe(slot);

  const service = evaluatorService({ config, database, evaluator });
  await service.start();
  await service.whenIdle();
  await service.stop();
  const [run] = await listRuns(database);
  expect(run).toMatchObject({ trigger: "startup", slot, status: "ok" });
  expect(run!.rules.find((r) => r.rule === "welcome")!.matches).toBe(1);
  expect(await findMissedSlot(database, config.evaluator.schedule, w.clock.now())).toBeUndefined();

  // Restarting within the same hour runs nothing; after the next slot passed unrun, it runs again.
  await service.start();
  await service.stop();
  expect(await listRuns(database)).toHaveLength(1);
  w.clock.advance(HOUR);
  expect(await findMissedSlot(database, config.evaluator.schedule, w.clock.now())).toBe(slot + HOUR);
});

test("a run left `running` by a crash is marked interrupted and its slot redone at start-up", async () => {
  const w = await startWorld();
  const { database, config } = w.server.ctx;
  const slot = T0;
  await database.execute({ sql: "INSERT INTO evaluator_runs (started_at, trigger, status, slot) VALUES (?, 'schedule', 'running', ?)", args: [slot, slot] });
  const service = evaluatorService({ config, database, evaluator: createEvaluator(w.server.ctx) });
  await service.start();
  await service.whenIdle();
  await service.stop();
  const runs = await listRuns(database);
  expect(runs.map((r) => [r.trigger, r.status])).toEqual([["startup", "ok"], ["schedule", "interrupted"]]);
});

test("with the evaluator disabled in the config nothing is scheduled", async () => {
  const w = await startWorld("", `[evaluator]\nenabled = false`);
  const { database, config } = w.server.ctx;
  const service = evaluatorService({ config, database, evaluator: createEvaluator(w.server.ctx) });
  await service.start();
  await service.stop();
  expect(await listRuns(database)).toHaveLength(0);
});

test("the cron job runs on its schedule (every second here) and never two runs at once", async () => {
  const w = await startWorld("", `[evaluator]\nschedule = "* * * * * *"`);
  setClock(systemClock); // croner ticks in real time
  const { database, config } = w.server.ctx;
  await signUp(w, "ann");
  await w.settle();
  const evaluator = createEvaluator(w.server.ctx);
  const service = evaluatorService({ config, database, evaluator });
  await service.start();
  // Two scheduled runs: an every-second schedule gives them well within 30 s (a loaded machine's run may take
  // seconds); one read as every minute could not.
  const scheduled = async () => (await listRuns(database)).filter((r) => r.trigger === "schedule" && r.status === "ok");
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && (await scheduled()).length < 2) await Bun.sleep(50);
  await service.stop();
  const runs = await listRuns(database);
  const slots = (await scheduled()).map((r) => r.slot!);
  expect(slots.length).toBeGreaterThanOrEqual(2);
  expect(slots.every((slot) => slot % 1000 === 0)).toBe(true);
  expect(Math.abs(slots[0]! - slots[1]!)).toBeLessThan(30_000);
  expect(runs.reduce((n, r) => n + r.rules.reduce((m, x) => m + (x.rule === "welcome" ? x.matches : 0), 0), 0)).toBe(1);
  // Runs never overlap: each starts after the previous one finished.
  for (let i = 1; i < runs.length; i++) expect(runs[i - 1]!.startedAt).toBeGreaterThanOrEqual(runs[i]!.finishedAt ?? runs[i]!.startedAt);
}, 45_000);
