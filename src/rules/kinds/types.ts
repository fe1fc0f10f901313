import type { RuleKind, RuleOf } from "../schema";
import type { Fragment } from "../sql";

/** What a kind needs to build its query for one rule of one project at one instant. */
export type KindContext = {
  projectId: string;
  ruleId: string;
  /** The evaluation instant (UTC ms): every "at least X ago" is measured from here. */
  at: number;
  /**
   * Conditions on `tracked_users u` that every qualifying user meets, whatever the kind: has an email, not
   * suppressed or paused, in the rule's audience, and (for a single-user check) the user in question.
   */
  eligible: Fragment;
  /** ` AND <column> = ?` when checking one user, else nothing: lets a kind narrow its inner scans too. */
  onlyUser(column: string): Fragment;
  /** This rule's ledger rows for user `u`, as `rf` (`rule_firings rf`): a kind adds when they fired. */
  ownFirings: Fragment;
  /** "check" = the pre-send re-check of a firing that already exists: a kind ignores its own cooldown. */
  mode: "evaluate" | "check";
};

/**
 * One rule kind: a single SELECT of `user_id, occasion, event_id` over all qualifying users of a project.
 * The evaluator joins it against the firing ledger, so the kind says only *who qualifies, for which occasion*.
 */
export type KindModule<K extends RuleKind> = {
  kind: K;
  /**
   * True when the query is one pass over `tracked_users u` (filtered by `eligible`): the evaluator may then
   * split it into user-id ranges, one short transaction each. Kinds driven by another table run whole.
   */
  scansUsers: boolean;
  candidates(rule: RuleOf<K>, ctx: KindContext): Fragment;
};
