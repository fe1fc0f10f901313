import type { ConfigProblem } from "../config/load";
import { DEFAULT_AUDIENCE_IDS } from "./defaults";

/**
 * Every rule's `audience` must name an audience of its project (a default or a custom one). Read from the config
 * tree as written, so a wrong name is reported beside the config's other problems, not only once they are fixed.
 */
export function checkAudienceReferences(tree: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  listOf((tree as { projects?: unknown } | null)?.projects).forEach((project, i) => {
    const p = (project ?? {}) as { id?: unknown; audiences?: unknown; rules?: unknown };
    const custom = listOf(p.audiences).flatMap((a) => {
      const id = (a as { id?: unknown } | null)?.id;
      return typeof id === "string" ? [id] : [];
    });
    const ids = [...DEFAULT_AUDIENCE_IDS, ...custom.filter((id) => !DEFAULT_AUDIENCE_IDS.includes(id))];
    listOf(p.rules).forEach((rule, j) => {
      const audience = (rule as { audience?: unknown } | null)?.audience;
      if (typeof audience !== "string" || ids.includes(audience)) return;
      problems.push({
        path: `projects[${i}].rules[${j}].audience`,
        expected: `an audience of project ${JSON.stringify(typeof p.id === "string" ? p.id : `#${i}`)} (${ids.join(", ")})`,
        found: `string ${JSON.stringify(audience)}`,
      });
    });
  });
  return problems;
}

const listOf = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
