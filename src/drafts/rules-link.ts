import type { ProjectConfig } from "../config/schema";
import type { Database } from "../db/client";
import { findRule, ruleStillHolds } from "../rules";
import type { DraftRule } from "./types";

/** The rule a draft came from, with the rules engine's defaults applied (default rules included). */
export function lookupRule(project: ProjectConfig, ruleId: string): DraftRule | undefined {
  return findRule(project, ruleId) as DraftRule | undefined;
}

/** The rules engine's pre-send re-check (SPEC §8): does the rule still hold for this user and occasion? */
export function checkRuleStillHolds(database: Database, project: ProjectConfig, ruleId: string, userId: number, occasion: string): Promise<boolean> {
  return ruleStillHolds(database, project, ruleId, userId, occasion);
}
