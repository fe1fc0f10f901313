import type { Config, ProjectConfig } from "../config/schema";
import type { Database, Transaction } from "../db/client";
import { now } from "../lib/clock";
import { log } from "../lib/log";
import { Mutex } from "../lib/mutex";
import { recomputeAudiences } from "../audiences";
import { applyChurnIn } from "../pipeline";
import { scansUsers } from "./kinds";
import { countNewMatches, insertFirings, type QueryScope } from "./query";
import { enabledRules } from "./resolve";
import { finishRun, startRun, type EvaluatorTrigger, type RuleOutcome } from "./runs";
import type { ResolvedRule, RuleKind } from "./schema";
import { toStatement } from "./sql";
import { breathe } from "../lib/breathe";

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
  /** Count what would match, write nothing (read connection only: never holds the write lock). */
  dryRun?: boolean;
  /** The evaluation instant; defaults to `now()`. */
  at?: number;
  /** Only this project. */
  projectId?: string;
  /** The scheduled slot this run stands for (scheduler only). */
  slot?: number;
  onMatches?: OnMatches;
  /** Users per transaction for kinds that scan users (default USER_RANGE). */
  userRange?: number;
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
/**
 * Users per write transaction for kinds that scan users: long enough to amortise the statement, short enough
 * that ingest and the normaliser (which queue behind the write lock) wait well under a second, and that another
 * process's writer never runs into `busy_timeout`.
 */
export const USER_RANGE = 50_000;
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
    const ids = await userIdBounds(database, project.id);
    for (const rule of enabledRules(project)) {
      if (options.signal?.aborted) break;
      const t0 = performance.now();
      try {
        let matches = 0;
        for (const range of rangesFor(rule, ids, options.userRange ?? USER_RANGE)) {
          if (options.signal?.aborted) break; // the ranges left are done by the next run
          await breathe();
          const scope: QueryScope = { projectId: project.id, at, range };
          matches += await database.write((tx) => fireRule(tx, scope, rule, runId, options.onMatches));
        }
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

async function runDry(ctx: EvaluatorContext, options: RunOptions): Promise<RunResult> {
  const startedAt = now();
  const at = options.at ?? startedAt;
  const rules: RuleOutcome[] = [];
  // The rules' own queries, counted on the read connection against the ledger: nothing is written and the
  // write lock is never taken, so a dry run beside a busy server holds nobody up. Churn due since the last
  // run is not applied (cancelled users past their grace count as cancelled until a real run).
  for (const project of projectsOf(ctx, options.projectId)) {
    for (const rule of enabledRules(project)) {
      const t0 = performance.now();
      const r = await ctx.database.read(toStatement(countNewMatches(rule, { projectId: project.id, at })));
      rules.push(outcome(project.id, rule, Number(r.rows[0]!.n), t0));
    }
  }
  const total = rules.reduce((n, r) => n + r.matches, 0);
  return { runId: null, at, dryRun: true, status: "ok", durationMs: Math.max(0, now() - startedAt), rules, total };
}

type IdBounds = { lo: number; hi: number } | undefined;

async function userIdBounds(database: Database, projectId: string): Promise<IdBounds> {
  const r = await database.read({ sql: "SELECT min(id) AS lo, max(id) AS hi FROM tracked_users WHERE project_id = ?", args: [projectId] });
  const row = r.rows[0];
  return !row || row.lo === null ? undefined : { lo: Number(row.lo), hi: Number(row.hi) };
}

/**
 * The user-id ranges a rule runs in: one open range for kinds driven by another table; consecutive ranges of
 * `size` ids for kinds that scan users. The last range is open-ended, so users created during the run are
 * still covered.
 */
function rangesFor(rule: ResolvedRule, ids: IdBounds, size: number): ({ from: number; to: number } | undefined)[] {
  if (!scansUsers(rule) || !ids) return [undefined];
  const out: { from: number; to: number }[] = [];
  for (let from = ids.lo; from <= ids.hi; from += size) out.push({ from, to: from + size });
  out[out.length - 1]!.to = Number.MAX_SAFE_INTEGER;
  return out;
}

function outcome(project: string, rule: ResolvedRule, matches: number, t0: number): RuleOutcome {
  return { project, rule: rule.id, kind: rule.kind, matches, ms: Math.round(performance.now() - t0) };
}

/** Records the rule's new firings and hands them to `onMatches`, in the caller's transaction. */
async function fireRule(tx: Transaction, scope: QueryScope, rule: ResolvedRule, runId: number, onMatches?: OnMatches): Promise<number> {
  const projectId = scope.projectId;
  // Inside a write transaction nobody else inserts, so every row above this id is one of ours.
  const before = Number((await tx.execute("SELECT COALESCE(max(id), 0) AS id FROM rule_firings")).rows[0]!.id);
  const inserted = await tx.execute(toStatement(insertFirings(rule, scope, runId)));
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
    await breathe();
    await onMatches(tx, matches);
    cursor = Number(page.rows[page.rows.length - 1]!.id);
    if (page.rows.length < MATCH_PAGE) break;
  }
  return inserted.rowsAffected;
}
