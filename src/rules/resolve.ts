import type { ProjectConfig } from "../config/schema";
import { DEFAULT_RULES } from "./defaults";
import { KIND_DEFAULTS, type ResolvedRule, type RuleConfig } from "./schema";

function definedKeys<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The project's rules: defaults first (in SPEC order), then custom ones, each with every default applied.
 * A config block with a default rule's id and the same kind changes only the keys it names; with a different
 * kind it replaces the default outright. Disabled rules are included (`enabled = false`) so the dashboard can
 * list them.
 */
export function resolveRules(project: Pick<ProjectConfig, "rules">): ResolvedRule[] {
  const configured = new Map(project.rules.map((r) => [r.id, r]));
  const out: ResolvedRule[] = [];
  for (const base of DEFAULT_RULES) {
    const override = configured.get(base.id);
    configured.delete(base.id);
    const merged = override && override.kind !== base.kind ? override : { ...base, ...(override ? definedKeys(override) : {}) };
    out.push(applyDefaults(merged as RuleConfig));
  }
  for (const rule of configured.values()) out.push(applyDefaults(rule));
  return out;
}

function applyDefaults(rule: RuleConfig): ResolvedRule {
  return { ...KIND_DEFAULTS[rule.kind], ...definedKeys(rule), enabled: rule.enabled ?? true } as ResolvedRule;
}

/** The enabled rules of a project. */
export function enabledRules(project: Pick<ProjectConfig, "rules">): ResolvedRule[] {
  return resolveRules(project).filter((r) => r.enabled);
}

/** One rule by id (defaults included), or undefined. */
export function findRule(project: Pick<ProjectConfig, "rules">, ruleId: string): ResolvedRule | undefined {
  return resolveRules(project).find((r) => r.id === ruleId);
}
