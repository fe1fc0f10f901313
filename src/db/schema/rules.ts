import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * The firing ledger (SPEC §7): one row per (rule, user, occasion), ever. The UNIQUE index is what makes a
 * re-run, a concurrent run or a run after a crash harmless — a second insert of the same occasion is ignored.
 */
export const ruleFirings = sqliteTable(
  "rule_firings",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    projectId: text("project_id").notNull(),
    ruleId: text("rule_id").notNull(),
    userId: integer("user_id").notNull(),
    /** What makes this firing distinct (see docs/rules.md): "once", a step name, a time, an event id. */
    occasion: text("occasion").notNull(),
    /** The triggering event, when the kind has one (welcome, payment_failed, custom). */
    eventId: integer("event_id"),
    firedAt: integer("fired_at").notNull(),
    /** The evaluator run that created the firing. */
    runId: integer("run_id"),
  },
  // One index only: every secondary index is paid per row on a first run that records ~1M firings
  // (bench:evaluator). Lookups by (project, rule, user) — cooldowns, the anti-join — use its prefix.
  (t) => [uniqueIndex("rule_firings_occasion").on(t.projectId, t.ruleId, t.userId, t.occasion)],
);

export const EVALUATOR_TRIGGERS = ["schedule", "startup", "manual", "cli"] as const;
export const EVALUATOR_RUN_STATES = ["running", "ok", "failed", "interrupted"] as const;

/** One row per evaluator run, for the dashboard, metrics and missed-run detection. */
export const evaluatorRuns = sqliteTable(
  "evaluator_runs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    startedAt: integer("started_at").notNull(),
    finishedAt: integer("finished_at"),
    durationMs: integer("duration_ms"),
    trigger: text("trigger", { enum: EVALUATOR_TRIGGERS }).notNull(),
    status: text("status", { enum: EVALUATOR_RUN_STATES }).notNull(),
    /** The scheduled slot this run stands for (schedule and startup catch-up runs); null for on-demand runs. */
    slot: integer("slot"),
    /** JSON: [{project, rule, kind, matches, ms}] — new firings per rule. */
    matches: text("matches").notNull().default("[]"),
    error: text("error"),
  },
  (t) => [index("evaluator_runs_slot").on(t.slot), index("evaluator_runs_started").on(t.startedAt)],
);
