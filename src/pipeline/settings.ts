import type { Config } from "../config/schema";
import type { ProjectSettings } from "./project-apply";

/** The per-project settings the normaliser needs, by project id. */
export function projectSettings(config: Config): Map<string, ProjectSettings> {
  return new Map(config.projects.map((p) => [p.id, { bufferTtlMs: p.buffer_ttl, churnGraceMs: p.churn_grace }]));
}
