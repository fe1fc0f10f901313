/**
 * Trigger rules (SPEC §7): the eight kinds, the default rules, the evaluator and its schedule, preview and the
 * pre-send re-check. Everything other capabilities use is exported from here.
 */
export { DEFAULT_RULES } from "./defaults";
export { createEvaluator, runEvaluator, type Evaluator, type Match, type OnMatches, type RunOptions, type RunResult } from "./evaluator";
export { previewRule, ruleStillHolds, type PreviewMatch, type RulePreview } from "./preview";
export { enabledRules, findRule, resolveRules } from "./resolve";
export { findMissedSlot, listRuns, previousSlot, type EvaluatorRun, type EvaluatorTrigger, type RuleOutcome } from "./runs";
export { evaluatorService } from "./schedule";
export { RULE_KINDS, ruleSchema, type ResolvedRule, type RuleConfig, type RuleKind } from "./schema";
