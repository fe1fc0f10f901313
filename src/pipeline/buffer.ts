import type { Row } from "@libsql/client";
import type { Config } from "../config/schema";
import type { Database } from "../db/client";
import { now } from "../lib/clock";
import { getHooks } from "./hooks";
import { quarantineItem } from "./quarantine-item";
import { reject, unknownUser, type Rejection } from "./reasons";
import { insertQuarantine, type QuarantineInsert } from "./writes";

const SWEEP_CHUNK = 5_000;

/**
 * SPEC §5.2: an event whose user was not identified within the project's `buffer_ttl` (counted from when the
 * event was received) moves from event_buffer to quarantine as `unknown_user`. Events buffered for a project
 * since removed from the configuration can never meet their identify: they move at once, as `unknown_project`
 * (what the normaliser makes of such a project's queue items) — looked for only when `unknownProjects` (the
 * configuration, and so its projects, only change with a restart; and finding another project's rows reads the
 * whole buffer, while a project's expired rows are one range of `event_buffer_expiry`). Each chunk moves in one
 * transaction, so a crash never loses or doubles one. Returns how many moved.
 */
export async function sweepBuffer(database: Database, config: Config, at = now(), { unknownProjects = true } = {}): Promise<number> {
  let moved = 0;
  for (const project of config.projects) {
    moved += await sweep(database, at, { sql: "project_id = ? AND received_at < ?", args: [project.id, at - project.buffer_ttl] }, (r) =>
      unknownUser(String(r.external_user_id), project.buffer_ttl),
    );
  }
  if (!unknownProjects) return moved;
  const configured = JSON.stringify(config.projects.map((p) => p.id));
  moved += await sweep(database, at, { sql: "project_id NOT IN (SELECT value FROM json_each(?))", args: [configured] }, (r) =>
    reject("unknown_project", `project "${String(r.project_id)}" is not in the configuration`),
  );
  return moved;
}

/** Moves the buffered events `where` selects to quarantine, chunk by chunk, each with the rejection `why` gives. */
async function sweep(database: Database, at: number, where: { sql: string; args: (string | number)[] }, why: (row: Row) => Rejection): Promise<number> {
  let moved = 0;
  for (;;) {
    const n = await database.write(async (tx) => {
      const rs = await tx.execute({
        sql: `SELECT id, project_id, external_user_id, source, payload, received_at FROM event_buffer WHERE ${where.sql} ORDER BY id LIMIT ?`,
        args: [...where.args, SWEEP_CHUNK],
      });
      if (rs.rows.length === 0) return 0;
      const items: QuarantineInsert[] = rs.rows.map((r) =>
        quarantineItem({ projectId: String(r.project_id), kind: "track", source: String(r.source), payload: String(r.payload), receivedAt: Number(r.received_at) }, why(r)),
      );
      await insertQuarantine(tx, items, at);
      await tx.execute({ sql: "DELETE FROM event_buffer WHERE id IN (SELECT value FROM json_each(?))", args: [JSON.stringify(rs.rows.map((r) => Number(r.id)))] });
      const hook = getHooks().onQuarantine;
      if (hook) await hook(tx, items, at);
      return rs.rows.length;
    });
    moved += n;
    if (n < SWEEP_CHUNK) return moved;
  }
}

/** How many events wait for their user, per project (or in all projects). */
export async function bufferDepth(database: Database, projectId?: string): Promise<number> {
  const rs = await database.read(
    projectId === undefined
      ? "SELECT count(*) AS n FROM event_buffer"
      : { sql: "SELECT count(*) AS n FROM event_buffer WHERE project_id = ?", args: [projectId] },
  );
  return Number(rs.rows[0]!.n);
}
