import type { ConfigProblem } from "../config/load";
import type { Config } from "../config/schema";
import { resolveAudiences } from "./defaults";

/** Every rule's `audience` must name an audience of its project (a default or a custom one). */
export function checkAudienceReferences(config: Pick<Config, "projects">): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  config.projects.forEach((project, i) => {
    const ids = resolveAudiences(project).map((a) => a.id);
    project.rules.forEach((rule, j) => {
      if (rule.audience === undefined || ids.includes(rule.audience)) return;
      problems.push({
        path: `projects[${i}].rules[${j}].audience`,
        expected: `an audience of project "${project.id}" (${ids.join(", ")})`,
        found: `string ${JSON.stringify(rule.audience)}`,
      });
    });
  });
  return problems;
}
