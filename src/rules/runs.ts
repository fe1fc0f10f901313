import { Cron } from "croner";
import type { Database } from "../db/client";
import type { EVALUATOR_RUN_STATES, EVALUATOR_TRIGGERS } from "../db/schema/rules";
import type { RuleKind } from "./schema";

export type EvaluatorTrigger = (typeof EVALUATOR_TRIGGERS)[number];
export type EvaluatorRunStatus = (typeof EVALUATOR_RUN_STATES)[number];

/** Matches of one rule in one run (stored as JSON on the run row). */
export type RuleOutcome = { project: string; rule: string; kind: RuleKind; matches: number; ms: number; error?: string };

export type EvaluatorRun = {
  id: number;
  startedAt: number;
  finishedAt: number | null;
  durationMs: number | null;
  trigger: EvaluatorTrigger;
  status: EvaluatorRunStatus;
  slot: number | null;
  rules: RuleOutcome[];
  error: string | null;
};

export async function startRun(database: Database, trigger: EvaluatorTrigger, slot: number | null, startedAt: number): Promise<number> {
  const r = await database.execute({
    sql: "INSERT INTO evaluator_runs (started_at, trigger, status, slot, matches) VALUES (?, ?, 'running', ?, '[]')",
    args: [startedAt, trigger, slot],
  });
  return Number(r.lastInsertRowid);
}

export async function finishRun(
  database: Database,
  id: number,
  outcome: { status: EvaluatorRunStatus; finishedAt: number; durationMs: number; rules: RuleOutcome[]; error?: string },
): Promise<void> {
  await database.execute({
    sql: "UPDATE evaluator_runs SET status = ?, finished_at = ?, duration_ms = ?, matches = ?, error = ? WHERE id = ?",
    args: [outcome.status, outcome.finishedAt, outcome.durationMs, JSON.stringify(outcome.rules), outcome.error ?? null, id],
  });
}

/** Runs left `running` by a process that died: marked `interrupted` when the scheduler starts again. */
export async function markInterrupted(database: Database): Promise<number> {
  const r = await database.execute("UPDATE evaluator_runs SET status = 'interrupted' WHERE status = 'running'");
  return r.rowsAffected;
}

/** The latest runs, newest first (dashboard, metrics). */
export async function listRuns(database: Database, limit = 20): Promise<EvaluatorRun[]> {
  const r = await database.read({ sql: "SELECT * FROM evaluator_runs ORDER BY id DESC LIMIT ?", args: [limit] });
  return r.rows.map((row) => ({
    id: Number(row.id),
    startedAt: Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    trigger: String(row.trigger) as EvaluatorTrigger,
    status: String(row.status) as EvaluatorRunStatus,
    slot: row.slot === null ? null : Number(row.slot),
    rules: JSON.parse(String(row.matches)) as RuleOutcome[],
    error: row.error === null ? null : String(row.error),
  }));
}

/** The latest scheduled slot at or before `at` (UTC), or undefined if the schedule has none. */
export function previousSlot(schedule: string, at: number): number | undefined {
  const job = new Cron(schedule, { paused: true, timezone: "UTC" });
  const prev = job.previousRuns(1, new Date(at + 1))[0];
  job.stop();
  return prev?.getTime();
}

/**
 * The slot whose run was missed while the process was down (SPEC §5 step 3): the latest scheduled slot at or
 * before `at`, when no run for it (or a later one) finished. A run that crashed mid-way (left `running`,
 * later `interrupted`) does not count as done, so it is redone; the ledger keeps that harmless.
 */
export async function findMissedSlot(database: Database, schedule: string, at: number): Promise<number | undefined> {
  const slot = previousSlot(schedule, at);
  if (slot === undefined) return undefined;
  const r = await database.read("SELECT max(slot) AS last FROM evaluator_runs WHERE slot IS NOT NULL AND status IN ('ok', 'failed')");
  const last = r.rows[0]?.last;
  return last === null || last === undefined || Number(last) < slot ? slot : undefined;
}
