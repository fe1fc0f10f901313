import type { ProjectConfig } from "../config/schema";
import type { Filter } from "./filter";
import { parseFilter, type FilterIssue } from "./parse-filter";

/** An audience ready to evaluate: a default or one from the project's config. */
export type ResolvedAudience = { id: string; name: string; description?: string; filter: Filter; isDefault: boolean };

/**
 * The default audiences every project has (SPEC §6), written in the same language as custom ones so they go
 * through the same parser and compiler. A custom audience with the same id replaces a default.
 */
const DEFAULTS: { id: string; name: string; description: string; filter: unknown }[] = [
  {
    id: "signups",
    name: "Signups",
    description: "Everyone who has signed up: a signup date, a user_signed_up event or any lifecycle stage.",
    filter: { any: [{ field: "signup_date", exists: true }, { field: "stage", exists: true }, { performed: "user_signed_up" }] },
  },
  { id: "trialing", name: "Trialing", description: "Users in a trial (stage trialing).", filter: { field: "stage", eq: "trialing" } },
  // Stage `active` alone is not enough: a later subscription_changed to mrr 0 (a downgrade to a free plan) keeps
  // the stage (docs/pipeline.md), and such a user is not paying.
  { id: "paying", name: "Paying", description: "Paying customers: stage active and mrr > 0.", filter: { all: [{ field: "stage", eq: "active" }, { field: "mrr", gt: 0 }] } },
  { id: "past_due", name: "Past due", description: "A payment failed and no new subscription change since.", filter: { field: "stage", eq: "past_due" } },
  { id: "cancelled", name: "Cancelled", description: "Cancelled, still inside the churn grace period.", filter: { field: "stage", eq: "cancelled" } },
  { id: "churned", name: "Churned", description: "Cancelled and past the churn grace period.", filter: { field: "stage", eq: "churned" } },
  {
    id: "inactive_14d",
    name: "Inactive 14 days",
    description: "Seen before, but not in the last 14 days.",
    filter: { field: "last_seen_at", older_than: "14d" },
  },
];

export const DEFAULT_AUDIENCES: readonly ResolvedAudience[] = DEFAULTS.map((d) => {
  const issues: FilterIssue[] = [];
  const filter = parseFilter(d.filter, issues);
  if (!filter) throw new Error(`default audience ${d.id} is invalid: ${JSON.stringify(issues)}`);
  return Object.freeze({ id: d.id, name: d.name, description: d.description, filter, isDefault: true });
});

export const DEFAULT_AUDIENCE_IDS = DEFAULT_AUDIENCES.map((a) => a.id);

const cache = new WeakMap<ProjectConfig, ResolvedAudience[]>();

/** The project's audiences: the defaults (in SPEC order) with custom ones overriding by id, then the rest. */
export function resolveAudiences(project: Pick<ProjectConfig, "audiences">): ResolvedAudience[] {
  const hit = cache.get(project as ProjectConfig);
  if (hit) return hit;
  const custom = new Map(project.audiences.map((a) => [a.id, a]));
  const toResolved = (a: ProjectConfig["audiences"][number]): ResolvedAudience => ({
    id: a.id,
    name: a.name ?? a.id,
    description: a.description,
    filter: a.filter,
    isDefault: false,
  });
  const out = DEFAULT_AUDIENCES.map((d) => (custom.has(d.id) ? toResolved(custom.get(d.id)!) : d));
  for (const a of project.audiences) if (!DEFAULT_AUDIENCE_IDS.includes(a.id)) out.push(toResolved(a));
  cache.set(project as ProjectConfig, out);
  return out;
}
