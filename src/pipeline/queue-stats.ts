import type { Database } from "../db/client";
import { now } from "../lib/clock";

export type QueueStats = { depth: number; lagMs: number };

/**
 * Queue depth and lag (age of the oldest queued item) for metrics and the dashboard, on the read
 * connection (never waits behind the writer). Lag is 0 when the queue is empty.
 */
export async function queueStats(database: Database, projectId?: string): Promise<QueueStats> {
  const rs = await database.read(
    projectId === undefined
      ? "SELECT (SELECT count(*) FROM ingest_queue) AS depth, (SELECT received_at FROM ingest_queue ORDER BY seq LIMIT 1) AS oldest"
      : {
          sql: "SELECT count(*) AS depth, min(received_at) AS oldest FROM ingest_queue WHERE project_id = ?",
          args: [projectId],
        },
  );
  const row = rs.rows[0]!;
  const depth = Number(row.depth ?? 0);
  const oldest = row.oldest === null || row.oldest === undefined ? undefined : Number(row.oldest);
  return { depth, lagMs: depth === 0 || oldest === undefined ? 0 : Math.max(0, now() - oldest) };
}
