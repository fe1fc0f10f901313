import type { Config, ProjectConfig } from "../config/schema";
import type { Database, Transaction } from "../db/client";
import { now } from "../lib/clock";
import { log } from "../lib/log";
import { Mutex } from "../lib/mutex";
import { recomputeAudiences } from "../audiences";
import { applyChurnIn } from "../pipeline";
import { insertFirings } from "./query";
import { enabledRules } from "./resolve";
import { finishRun, startRun, type EvaluatorTrigger, type RuleOutcome } from "./runs";
import type { ResolvedRule, RuleKind } from "./schema";
import { toStatement } from "./sql";

/** A new firing, handed to `onMatches` in the transaction that recorded it. */
export type Match = {
  projectId: string;
  ruleId: string;
  ruleKind: RuleKind;
  userId: number;
  occasion: string;
  /** The triggering event (welcome, payment_failed, custom). */
  eventId?: number;
  firedAt: number;
};

/**
 * Called with new matches inside the transaction that records them (wired to the drafts): if it throws, the
 * firings roll back with it and the next run tries again — a match is never recorded without its draft.
 * Large rules hand their matches over in pages of `MATCH_PAGE`.
 */
export type OnMatches = (tx: Transaction, matches: Match[]) => Promise<void> | void;

export type EvaluatorContext = { config: Pick<Config, "projects">; database: Database };

export type RunOptions = {
  trigger: EvaluatorTrigger;
  /** Evaluate and report, write nothing (everything runs in one transaction that is rolled back). */
  dryRun?: boolean;
  /** The evaluation instant; defaults to `now()`. */
  at?: number;
  /** Only this project. */
  projectId?: string;
  /** The scheduled slot this run stands for (scheduler only). */
  slot?: number;
  onMatches?: OnMatches;
  /** Checked between rules: a stopping process ends the run early (recorded as `interrupted`). */
  signal?: AbortSignal;
};

export type RunResult = {
  runId: number | null;
  at: number;
  dryRun: boolean;
  status: "ok" | "failed" | "interrupted";
  durationMs: number;
  rules: RuleOutcome[];
  total: number;
};

const MATCH_PAGE = 2_000;
const runLocks = new WeakMap<Database, Mutex>();

/**
 * Runs every enabled rule of every project (SPEC §5 step 3). Runs in one process never overlap (a second call
 * waits for the first); runs in different processes may, and the ledger's UNIQUE key keeps them from firing
 * an occasion twice. Each rule commits in its own transaction — a crash loses at most the rule in flight,
 * which the next run redoes.
 */
export function runEvaluator(ctx: EvaluatorContext, options: RunOptions): Promise<RunResult> {
  let lock = runLocks.get(ctx.database);
  if (!lock) runLocks.set(ctx.database, (lock = new Mutex()));
  return lock.run(() => (options.dryRun ? runDry(ctx, options) : runForReal(ctx, options)));
}

/** An evaluator bound to its `onMatches` (how services.ts and the CLI hold it). */
export function createEvaluator(ctx: EvaluatorContext, deps: { onMatches?: OnMatches } = {}) {
  return {
    run: (options: Omit<RunOptions, "onMatches">) => runEvaluator(ctx, { ...options, onMatches: deps.onMatches }),
  };
}
export type Evaluator = ReturnType<typeof createEvaluator>;

function projectsOf(ctx: EvaluatorContext, projectId: string | undefined): ProjectConfig[] {
  return ctx.config.projects.filter((p) => projectId === undefined || p.id === projectId);
}

async function runForReal(ctx: EvaluatorContext, options: RunOptions): Promise<RunResult> {
  const { database } = ctx;
  const startedAt = now();
  const at = options.at ?? startedAt;
  const runId = await startRun(database, options.trigger, options.slot ?? null, startedAt);
  const rules: RuleOutcome[] = [];
  let status: RunResult["status"] = "ok";
  for (const project of projectsOf(ctx, options.projectId)) {
    if (options.signal?.aborted) break;
    // Time-driven state first, so the rules see it in this very run: cancelled → churned, then audiences
    // whose conditions are relative to now (`within`, `older_than`).
    try {
      await database.write((tx) => applyChurnIn(tx, project.id, at));
      await recomputeAudiences(database, project, at);
    } catch (error) {
      log.error("churn or audience recompute failed", { project: project.id, error });
      status = "failed";
    }
    for (const rule of enabledRules(project)) {
      if (options.signal?.aborted) break;
      const t0 = performance.now();
      try {
        const matches = await database.write((tx) => fireRule(tx, project.id, rule, at, runId, options.onMatches));
        rules.push(outcome(project.id, rule, matches, t0));
      } catch (error) {
        // One broken rule must not stop the others; it is retried on the next run.
        log.error("rule evaluation failed", { project: project.id, rule: rule.id, error });
        rules.push({ ...outcome(project.id, rule, 0, t0), error: (error as Error).message });
        status = "failed";
      }
    }
  }
  if (options.signal?.aborted) status = "interrupted";
  const durationMs = Math.max(0, now() - startedAt);
  const failed = rules.filter((r) => r.error).map((r) => `${r.project}/${r.rule}: ${r.error}`);
  await finishRun(database, runId, { status, finishedAt: now(), durationMs, rules, error: failed.join("; ") || undefined });
  const total = rules.reduce((n, r) => n + r.matches, 0);
  log.info("evaluator run", { runId, trigger: options.trigger, status, durationMs, matches: total });
  return { runId, at, dryRun: false, status, durationMs, rules, total };
}

class DryRunRollback extends Error {}

async function runDry(ctx: EvaluatorContext, options: RunOptions): Promise<RunResult> {
  const startedAt = now();
  const at = options.at ?? startedAt;
  const rules: RuleOutcome[] = [];
  // The real statements in one transaction that is always rolled back: churn included, nothing kept. Audience
  // membership is used as last recomputed (a recompute commits in slices of its own).
  await ctx.database
    .write(async (tx) => {
      for (const project of projectsOf(ctx, options.projectId)) {
        await applyChurnIn(tx, project.id, at);
        for (const rule of enabledRules(project)) {
          const t0 = performance.now();
          const r = await tx.execute(toStatement(insertFirings(rule, { projectId: project.id, at }, null)));
          rules.push(outcome(project.id, rule, r.rowsAffected, t0));
        }
      }
      throw new DryRunRollback();
    })
    .catch((e) => {
      if (!(e instanceof DryRunRollback)) throw e;
    });
  const total = rules.reduce((n, r) => n + r.matches, 0);
  return { runId: null, at, dryRun: true, status: "ok", durationMs: Math.max(0, now() - startedAt), rules, total };
}

function outcome(project: string, rule: ResolvedRule, matches: number, t0: number): RuleOutcome {
  return { project, rule: rule.id, kind: rule.kind, matches, ms: Math.round(performance.now() - t0) };
}

/** Records the rule's new firings and hands them to `onMatches`, in the caller's transaction. */
async function fireRule(tx: Transaction, projectId: string, rule: ResolvedRule, at: number, runId: number, onMatches?: OnMatches): Promise<number> {
  // Inside a write transaction nobody else inserts, so every row above this id is one of ours.
  const before = Number((await tx.execute("SELECT COALESCE(max(id), 0) AS id FROM rule_firings")).rows[0]!.id);
  const inserted = await tx.execute(toStatement(insertFirings(rule, { projectId, at }, runId)));
  if (!onMatches || inserted.rowsAffected === 0) return inserted.rowsAffected;
  let cursor = before;
  for (;;) {
    const page = await tx.execute({
      sql: "SELECT id, user_id, occasion, event_id, fired_at FROM rule_firings WHERE id > ? ORDER BY id LIMIT ?",
      args: [cursor, MATCH_PAGE],
    });
    if (page.rows.length === 0) break;
    const matches: Match[] = page.rows.map((row) => ({
      projectId,
      ruleId: rule.id,
      ruleKind: rule.kind,
      userId: Number(row.user_id),
      occasion: String(row.occasion),
      ...(row.event_id === null ? {} : { eventId: Number(row.event_id) }),
      firedAt: Number(row.fired_at),
    }));
    await onMatches(tx, matches);
    cursor = Number(page.rows[page.rows.length - 1]!.id);
    if (page.rows.length < MATCH_PAGE) break;
  }
  return inserted.rowsAffected;
}
