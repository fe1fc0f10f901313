import { expect, test } from "bun:test";
import { listRuns, previewRule, ruleStillHolds, runEvaluator } from "../../src/rules";
import { DAY, HOUR, signUp, startWorld } from "./support";

async function seed(w: Awaited<ReturnType<typeof startWorld>>, n: number) {
  for (let i = 0; i < n; i++) {
    await signUp(w, `u${i}`);
    if (i % 2 === 0) await w.track(`u${i}`, "trial_started", { trialDays: 5 });
    if (i % 3 === 0) await w.track(`u${i}`, "onboarding_step", { step: "profile", completed: false });
  }
  w.clock.advance(3 * DAY + HOUR);
}

test("dry run and preview report matches without recording anything; each run is recorded", async () => {
  const w = await startWorld();
  await seed(w, 6);
  await w.settle();
  const dry = await w.evaluate({ dryRun: true });
  const byRule = Object.fromEntries(dry.rules.map((r) => [r.rule, r.matches]));
  expect(byRule).toMatchObject({ welcome: 6, trial_expiring: 3, onboarding_stalled: 2, first_feature: 6, inactive_14d: 0 });
  expect(dry.matches).toHaveLength(0);
  expect(await w.sql("SELECT count(*) AS n FROM rule_firings")).toEqual([{ n: 0 }]);
  expect(await listRuns(w.server.ctx.database)).toHaveLength(0);

  const project = w.server.ctx.config.projects[0]!;
  const preview = await previewRule(w.server.ctx.database, project, "trial_expiring", w.clock.now(), { limit: 2 });
  expect(preview!.total).toBe(3);
  expect(preview!.matches.map((m) => m.externalUserId)).toEqual(["u0", "u2"]);
  expect(await previewRule(w.server.ctx.database, project, "nope")).toBeUndefined();

  const real = await w.evaluate();
  expect(real.total).toBe(dry.total);
  expect(real.matches).toHaveLength(dry.total);
  const [run] = await listRuns(w.server.ctx.database);
  expect(run).toMatchObject({ status: "ok", trigger: "manual", startedAt: w.clock.now() });
  expect(run!.rules.find((r) => r.rule === "welcome")!.matches).toBe(6);
  expect((await previewRule(w.server.ctx.database, project, "trial_expiring"))!.total).toBe(0);
});

test("twice in a row and concurrently in-process: never a duplicate firing", async () => {
  const w = await startWorld();
  await seed(w, 8);
  await w.settle();
  const expected = (await w.evaluate({ dryRun: true })).total;
  expect(expected).toBeGreaterThan(10);

  // Three calls at once in one process (two processes on one file: processes.test.ts).
  const ctx = w.server.ctx;
  const seen: string[] = [];
  const onMatches = (_tx: unknown, m: { ruleId: string; userId: number; occasion: string }[]) => void seen.push(...m.map((x) => `${x.ruleId}/${x.userId}/${x.occasion}`));
  const results = await Promise.all([1, 2, 3].map(() => runEvaluator(ctx, { trigger: "manual", onMatches })));
  expect(results.map((r) => r.status)).toEqual(["ok", "ok", "ok"]);
  expect(results.reduce((n, r) => n + r.total, 0)).toBe(expected);
  expect(seen).toHaveLength(expected);
  expect(new Set(seen).size).toBe(expected);
  const runs = await listRuns(ctx.database);
  expect(runs.map((r) => r.status)).toEqual(["ok", "ok", "ok"]);
  const again = await w.evaluate();
  expect(again.total).toBe(0);
  expect(await w.sql("SELECT count(*) AS n FROM rule_firings")).toEqual([{ n: expected }]);
});

test("a failing onMatches rolls the rule's firings back; the next run fires them", async () => {
  const w = await startWorld();
  await seed(w, 3);
  await w.settle();
  const ctx = w.server.ctx;
  const failed = await runEvaluator(ctx, {
    trigger: "manual",
    onMatches: (_tx, m) => {
      if (m[0]!.ruleId === "welcome") throw new Error("drafts are down");
    },
  });
  expect(failed.status).toBe("failed");
  expect(failed.rules.find((r) => r.rule === "welcome")).toMatchObject({ matches: 0, error: "drafts are down" });
  expect(await w.sql("SELECT count(*) AS n FROM rule_firings WHERE rule_id = 'welcome'")).toEqual([{ n: 0 }]);
  const next = await w.evaluate();
  expect(next.rules.find((r) => r.rule === "welcome")!.matches).toBe(3);
  expect(next.matches.filter((m) => m.ruleId !== "welcome")).toHaveLength(0);
});

test("kinds that scan users run in user-id ranges with the same result", async () => {
  const w = await startWorld();
  await seed(w, 9);
  await w.settle();
  const expected = await w.evaluate({ dryRun: true });
  const seen: string[] = [];
  let calls = 0;
  const result = await runEvaluator(w.server.ctx, {
    trigger: "manual",
    userRange: 2,
    onMatches: (_tx, m) => {
      calls++;
      seen.push(...m.map((x) => `${x.ruleId}/${x.userId}/${x.occasion}`));
    },
  });
  expect(result.rules.map((r) => [r.rule, r.matches])).toEqual(expected.rules.map((r) => [r.rule, r.matches]));
  expect(new Set(seen).size).toBe(expected.total);
  expect(calls).toBeGreaterThanOrEqual(5 + 3); // welcome and first_feature over 5 ranges each, and more
});

test("an aborted run stops and is recorded as interrupted", async () => {
  const w = await startWorld();
  await seed(w, 2);
  await w.settle();
  const abort = new AbortController();
  abort.abort();
  const result = await runEvaluator(w.server.ctx, { trigger: "schedule", signal: abort.signal });
  expect(result.status).toBe("interrupted");
  expect(result.total).toBe(0);
  expect((await listRuns(w.server.ctx.database))[0]!.status).toBe("interrupted");
});

test("ruleStillHolds: false once the user is suppressed, came back, or the rule is unknown", async () => {
  const w = await startWorld();
  for (const u of ["ann", "bob", "cat"]) await signUp(w, u);
  w.clock.advance(15 * DAY);
  const { matches } = await w.evaluate();
  const project = w.server.ctx.config.projects[0]!;
  const db = w.server.ctx.database;
  const occasionOf = async (u: string) => {
    const id = await w.id(u);
    return [id, matches.find((m) => m.ruleId === "inactive_14d" && m.userId === id)!.occasion] as const;
  };
  const [ann, annOcc] = await occasionOf("ann");
  const [bob, bobOcc] = await occasionOf("bob");
  const [cat, catOcc] = await occasionOf("cat");
  await w.track("bob", "page_viewed");
  await w.settle();
  await db.execute({ sql: "UPDATE tracked_users SET suppressed = 1 WHERE id = ?", args: [cat] });
  const at = w.clock.now();
  expect(await ruleStillHolds(db, project, "inactive_14d", ann, annOcc, at)).toBe(true);
  expect(await ruleStillHolds(db, project, "inactive_14d", bob, bobOcc, at)).toBe(false); // came back
  expect(await ruleStillHolds(db, project, "inactive_14d", cat, catOcc, at)).toBe(false); // suppressed
  expect(await ruleStillHolds(db, project, "no_such_rule", ann, annOcc, at)).toBe(false);
});
