/**
 * The pipeline's public surface (SPEC §5): the normaliser loop, queue figures, the quarantine, churn, hooks.
 */
export { applyQueued, createNormaliser, drainQueue, normaliserStats, type NormaliserStats } from "./normaliser";
export { queueStats, type QueueStats } from "./queue-stats";
export { sweepBuffer, bufferDepth } from "./buffer";
export { applyChurn, applyChurnIn, churnTimeSql } from "./churn";
export { setAfterApply, setOnQuarantine, type AfterApply, type OnQuarantine, type UserChange } from "./hooks";
export {
  listQuarantine,
  showQuarantine,
  replayQuarantine,
  discardQuarantine,
  countQuarantine,
  type QuarantineRecord,
  type QuarantineFilter,
} from "./quarantine";
export { QUARANTINE_REASONS, QUARANTINE_STATES, type QuarantineReason, type QuarantineState } from "./reasons";
export { STAGE_RANK } from "./stages";
