import type { Config } from "../config/schema";
import type { Database } from "../db/client";
import { now } from "../lib/clock";

/** Makes the `projects` table mirror the config (projects are defined in config; rows anchor their data). */
export async function syncProjects(database: Database, config: Config): Promise<void> {
  await database.batch(
    config.projects.map((p) => ({
      sql: "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name",
      args: [p.id, p.name, now()],
    })),
  );
}
