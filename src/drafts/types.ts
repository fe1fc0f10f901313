import type { DraftState } from "../db/schema/drafts";

/**
 * A new rule match, as the evaluator hands it over inside its transaction (docs/architecture.md,
 * "rules → drafts"). `userId` is `tracked_users.id`.
 */
export type DraftMatch = {
  projectId: string;
  ruleId: string;
  ruleKind: string;
  userId: number;
  occasion: string;
  eventId?: number | null;
  firedAt: number;
};

/** What drafts need to know of a rule (a resolved rule from src/rules has all of these and more). */
export type DraftRule = {
  id: string;
  kind: string;
  enabled?: boolean;
  autopilot?: boolean;
  review_window?: number;
  throttle?: number;
  template?: { subject?: string; text?: string; html?: string };
  stage?: string;
  feature?: string;
};

/** Who changed a draft: `system`, `autopilot`, `cli`, `dashboard:<account>`, … (kept verbatim in history). */
export type Actor = string;

export type { DraftState };
