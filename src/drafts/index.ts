/**
 * Drafts, review, autopilot and deadlines (SPEC §8). Everything other capabilities (the evaluator, the
 * dashboard, the CLI) use is exported from here.
 */
export { createDrafts, loadAutopilotOverride } from "./create";
export { DEFAULT_TEMPLATES, defaultTemplateFor, templateFor, type TemplateSet } from "./default-templates";
export { askModel, draftPendingWithModel } from "./llm";
export { countDraftsByState, draftHistoryOf, getDraft, listDrafts, type DraftFilter, type DraftView, type HistoryEntry } from "./queries";
export { checkTemplates, renderTemplates, textToHtml } from "./render";
export { approveDraft, editDraft, rejectDraft, rescheduleDraft, type DraftEdit } from "./review";
export { dispatchDue, expireDue, sendTestDraft } from "./scheduler";
export { chooseTimeZone, insideWindow, nextWindowSlot } from "./send-window";
export { runSendingTick, sendingService, type SendingEnv } from "./service";
export type { Actor, DraftMatch, DraftRule } from "./types";
