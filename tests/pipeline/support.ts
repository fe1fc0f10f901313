import type { Database } from "../../src/db/client";
import { now } from "../../src/lib/clock";
import { drainQueue } from "../../src/pipeline";
import { startTestServer, type TestServer } from "../support/harness";

export const PROJECT = "acme";
export const CONFIG = `[[projects]]\nid = "${PROJECT}"\nname = "Acme"\nbuffer_ttl = "7d"\nchurn_grace = "14d"\n`;

/** A real server over a real DB file, background loops off: tests drain the queue by hand. */
export function startPipelineServer(extra = ""): Promise<TestServer> {
  return startTestServer(CONFIG + extra, { background: false });
}

export type QueueInput = {
  kind: "identify" | "track";
  payload: unknown;
  source?: string;
  receivedAt?: number;
  projectId?: string;
};

/** Rows straight into ingest_queue, as ingest writes them (bulk/segment/replay paths the API cannot fake). */
export async function enqueue(database: Database, items: QueueInput[]): Promise<void> {
  await database.batch(
    items.map((i) => ({
      sql: "INSERT INTO ingest_queue (project_id, kind, source, payload, received_at) VALUES (?, ?, ?, ?, ?)",
      args: [i.projectId ?? PROJECT, i.kind, i.source ?? "api", typeof i.payload === "string" ? i.payload : JSON.stringify(i.payload), i.receivedAt ?? now()],
    })),
  );
}

export const identify = (external_user_id: string, rest: Record<string, unknown> = {}, opts: Partial<QueueInput> = {}): QueueInput => ({
  kind: "identify",
  payload: { external_user_id, ...rest },
  ...opts,
});

export const track = (external_user_id: string, name: string, rest: Record<string, unknown> = {}, opts: Partial<QueueInput> = {}): QueueInput => ({
  kind: "track",
  payload: { external_user_id, name, ...rest },
  ...opts,
});

export function drain(server: TestServer) {
  return drainQueue(server.ctx);
}

export async function rows(database: Database, sql: string, args: (string | number | null)[] = []): Promise<Record<string, any>[]> {
  const rs = await database.read({ sql, args });
  return rs.rows.map((r) => ({ ...r }) as Record<string, any>);
}

export async function userRow(database: Database, externalUserId: string, projectId = PROJECT): Promise<Record<string, any> | undefined> {
  return (await rows(database, "SELECT * FROM tracked_users WHERE project_id = ? AND external_user_id = ?", [projectId, externalUserId]))[0];
}

export async function count(database: Database, sql: string, args: (string | number | null)[] = []): Promise<number> {
  return Number((await rows(database, sql, args))[0]!.n);
}

/**
 * The invariant of SPEC §5: every acknowledged item ended applied, buffered or quarantined. For tracks:
 * stored events + waiting in the buffer + quarantined + skipped bulk duplicates = acknowledged.
 */
export async function assertAccounted(database: Database, ackTracks: number, ackIdentifies: number, duplicates = 0): Promise<void> {
  const queued = await count(database, "SELECT count(*) AS n FROM ingest_queue");
  const events = await count(database, "SELECT count(*) AS n FROM events");
  const buffered = await count(database, "SELECT count(*) AS n FROM event_buffer");
  const qTracks = await count(database, "SELECT count(*) AS n FROM quarantine WHERE kind = 'track' AND state = 'open'");
  const qIdentifies = await count(database, "SELECT count(*) AS n FROM quarantine WHERE kind = 'identify' AND state = 'open'");
  const users = await count(database, "SELECT count(*) AS n FROM tracked_users");
  if (queued !== 0) throw new Error(`queue not drained: ${queued}`);
  if (events + buffered + qTracks + duplicates !== ackTracks) {
    throw new Error(`tracks: ${events} events + ${buffered} buffered + ${qTracks} quarantined + ${duplicates} duplicates ≠ ${ackTracks} acknowledged`);
  }
  if (qIdentifies + users > ackIdentifies) throw new Error(`identifies: ${users} users + ${qIdentifies} quarantined > ${ackIdentifies} acknowledged`);
}
