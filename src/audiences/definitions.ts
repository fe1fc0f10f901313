import type { Config, ProjectConfig } from "../config/schema";
import type { Database } from "../db/client";
import { resolveAudiences } from "./defaults";

/**
 * Which audience definitions the stored membership was computed with, per project: a fingerprint of every
 * audience's id and filter, kept in `meta` by each whole-project recompute. Membership otherwise follows a config
 * edit only at the next hourly evaluator run — an hour of a mix of old and new filter, and of members of removed
 * audiences.
 */
const keyOf = (projectId: string) => `audience_definitions:${projectId}`;

export function definitionsFingerprint(project: ProjectConfig): string {
  const definitions = resolveAudiences(project).map((a) => [a.id, a.filter]);
  return Bun.SHA256.hash(JSON.stringify(definitions), "hex");
}

export async function recordDefinitions(db: Database, project: ProjectConfig, fingerprint: string): Promise<void> {
  await db.execute({
    sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    args: [keyOf(project.id), fingerprint],
  });
}

/** Before a full recompute writes its first slice: until it records the new fingerprint, membership follows no
 * definitions in full, so a recompute interrupted part-way (a crash, a stop) is redone at the next start —
 * whatever the config then says, the one before the edit included. */
export async function forgetDefinitions(db: Database, project: ProjectConfig): Promise<void> {
  await db.execute({ sql: "DELETE FROM meta WHERE key = ?", args: [keyOf(project.id)] });
}

/** The configured projects whose audiences changed since their membership was last recomputed in full. */
export async function projectsWithChangedAudiences(database: Database, config: Config): Promise<ProjectConfig[]> {
  const changed: ProjectConfig[] = [];
  for (const project of config.projects) {
    const rs = await database.read({ sql: "SELECT value FROM meta WHERE key = ?", args: [keyOf(project.id)] });
    if (rs.rows[0]?.value !== definitionsFingerprint(project)) changed.push(project);
  }
  return changed;
}
