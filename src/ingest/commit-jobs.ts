import type { Client, InStatement } from "@libsql/client";
import { JSON_ROWS, jsonColumns } from "../db/json-rows";
import { FIND_KEYS, storedResponseOf, type StoredResponse } from "./idempotency";

/**
 * What one ingest commit writes (the group-commit writer, writer.ts): the jobs, their statements, and the commit
 * itself with its Idempotency-Key lookup (`commitUnlessStored`, run on the write thread, src/db/thread-worker.ts,
 * or without one on the main connection).
 */

/**
 * Queue rows of one kind (docs/architecture.md "ingest → normaliser"): `payloads` is a JSON array whose
 * elements become one row each, in order: a string element is the item's own text (the client's bytes), an object
 * element is rendered by `json_each` byte-for-byte as JSON.stringify wrote it. Handing SQLite one array costs one
 * serialisation and one bound parameter per request instead of one per item.
 */
export type QueueGroup = { kind: "identify" | "track"; payloads: string; count: number };

/** A group from payloads that are already JSON texts of objects (one row each). */
export function groupOf(kind: QueueGroup["kind"], payloads: readonly string[]): QueueGroup {
  return { kind, payloads: `[${payloads.join(",")}]`, count: payloads.length };
}

/** The idempotency record written in the same transaction as the rows it answers for. */
export type IdempotencyRecord = { key: string; requestHash: string; status: number; responseBody: string };

/**
 * Rows that each may carry a dedupe key of their own (Segment's `messageId`s, src/segment/dedupe.ts). In the
 * commit, a row whose key is already stored (created after the commit's `keysSince`) is skipped; the others are
 * written, and their keys stored with them, each holding `record`. A job's keys are distinct (the caller drops
 * repeats), and no two jobs of a commit share one (the caller's claims keep a second holder out until the first
 * is committed), so looking them up inside the transaction is exact.
 */
export type KeyedRows = { rows: { kind: QueueGroup["kind"]; payload: string; key?: string }[]; record: Omit<IdempotencyRecord, "key"> };

export type WriteJob = {
  projectId: string;
  source: "api" | "bulk" | "segment";
  receivedAt: number;
  groups: QueueGroup[];
  idempotency?: IdempotencyRecord;
  /** Rows deduped by their own keys, inside the commit (after `groups`). */
  keyed?: KeyedRows;
};

/** Rows given as a JSON array of `[project, kind, source, received_at, payload]` (src/db/json-rows.ts). The payload
 * is a string holding the item's text as the client sent it (stored as is, SPEC §2), or an object, which `->>`
 * renders back to JSON text exactly as JSON.stringify wrote it. */
const INSERT_ROWS =
  `${JSON_ROWS} INSERT INTO ingest_queue (project_id, kind, source, received_at, payload) ` +
  "SELECT r.v ->> 0, r.v ->> 1, r.v ->> 2, r.v ->> 3, r.v ->> 4 FROM r ORDER BY r.k";

/** REPLACE: a key older than 24 h that the purge has not reached yet is simply superseded. */
const INSERT_KEYS =
  `${JSON_ROWS} INSERT OR REPLACE INTO idempotency_keys (project_id, key, request_hash, status, response_body, created_at) ` +
  `SELECT ${jsonColumns(6)} FROM r`;

/** A key of the job's project stored after ?5 (the commit's `keysSince`). JSON_ROWS's `?` is ?1. */
const STORED_KEY = "SELECT 1 FROM idempotency_keys AS k WHERE k.project_id = ?2 AND k.key = r.v ->> 2 AND k.created_at > ?5";

/** KeyedRows' rows `[kind, payload, key|null]`: those whose key is not stored go in (?2 project, ?3 source, ?4 time). */
const INSERT_KEYED_ROWS =
  `${JSON_ROWS} INSERT INTO ingest_queue (project_id, kind, source, received_at, payload) ` +
  `SELECT ?2, r.v ->> 0, ?3, ?4, r.v ->> 1 FROM r WHERE r.v ->> 2 IS NULL OR NOT EXISTS (${STORED_KEY}) ORDER BY r.k`;

/** Then their keys, unless stored (a key older than 24 h is replaced); ?6–?8: the record's hash, status, body. Run
 * after INSERT_KEYED_ROWS, so that the rows' lookup sees only keys from earlier commits. */
const INSERT_ROW_KEYS =
  `${JSON_ROWS} INSERT OR REPLACE INTO idempotency_keys (project_id, key, request_hash, status, response_body, created_at) ` +
  `SELECT ?2, r.v ->> 2, ?6, ?7, ?8, ?4 FROM r WHERE r.v ->> 2 IS NOT NULL AND NOT EXISTS (${STORED_KEY})`;

const INSERT_GROUP =
  "INSERT INTO ingest_queue (project_id, kind, source, payload, received_at) SELECT ?, ?, ?, value, ? FROM json_each(?) ORDER BY key";

/** The Idempotency-Keys of a commit's jobs: `[project, key]` pairs as JSON, and the index of the job of each. */
export type KeyLookup = { pairs: string; jobs: number[] };

export function keyLookup(jobs: WriteJob[]): KeyLookup | undefined {
  const keyed: number[] = [];
  jobs.forEach((j, i) => j.idempotency && keyed.push(i));
  if (keyed.length === 0) return undefined;
  return { pairs: JSON.stringify(keyed.map((i) => [jobs[i]!.projectId, jobs[i]!.idempotency!.key])), jobs: keyed };
}

/**
 * Runs a group commit's statements as one transaction — unless one of the jobs' Idempotency-Keys is already
 * stored (created after `keysSince`): then it writes nothing and returns the stored records, by job index, and
 * the writer commits the other jobs in a second round (a retry with a stored key is the rare case).
 *
 * Why the lookup runs here, inside the commit on the write thread, rather than on the main thread before it: the
 * main thread's read connection finds its page cache dropped after every commit of another connection, so with a
 * key on every request (as the SDK sends) its lookup cost as much as the rest of the request; on the connection
 * that writes the keys its pages are warm (docs/benchmarks.md, "Eleventh session"). A request holding a key is
 * alone with it (the handler's in-flight claim), and only this writer stores keys, so a key found absent here
 * stays absent until its own commit.
 */
export async function commitUnlessStored(client: Client, statements: InStatement[], lookup: KeyLookup | undefined, keysSince: number): Promise<[number, StoredResponse][]> {
  if (!lookup) {
    await client.batch(statements, "write");
    return [];
  }
  const tx = await client.transaction("write");
  try {
    const found: [number, StoredResponse][] = [];
    for (const row of (await tx.execute({ sql: FIND_KEYS, args: [lookup.pairs, keysSince] })).rows) {
      found.push([lookup.jobs[Number(row.i)]!, storedResponseOf(row)]);
    }
    if (found.length > 0) {
      await tx.rollback(); // nothing written
      return found;
    }
    await tx.batch(statements);
    await tx.commit();
    return [];
  } catch (error) {
    await tx.rollback().catch(() => undefined);
    throw error;
  } finally {
    tx.close();
  }
}

/**
 * One commit's statements. Single rows (the common single-event request) from every job are merged into one
 * statement over a JSON array of `[project, kind, source, received_at, payload]` rows — preparing a statement
 * (or binding five parameters) per request would cost more than the inserts. A larger group (a batch) is one
 * statement that lets SQLite split its payload array, and a job's keyed rows are two (the rows whose key is not
 * stored, then those keys). Rows keep the order in which jobs arrived.
 */
export function buildStatements(jobs: WriteJob[], keysSince: number): InStatement[] {
  const statements: InStatement[] = [];
  let singles: string[] = [];
  const flushSingles = () => {
    if (singles.length === 0) return;
    statements.push({ sql: INSERT_ROWS, args: [`[${singles.join(",")}]`] });
    singles = [];
  };
  for (const job of jobs) {
    for (const g of job.groups) {
      if (g.count === 1) {
        const head = JSON.stringify([job.projectId, g.kind, job.source, job.receivedAt]);
        singles.push(`${head.slice(0, -1)},${g.payloads.slice(1, -1)}]`);
      } else if (g.count > 1) {
        flushSingles();
        statements.push({ sql: INSERT_GROUP, args: [job.projectId, g.kind, job.source, job.receivedAt, g.payloads] });
      }
    }
    if (job.keyed && job.keyed.rows.length > 0) {
      flushSingles();
      const rows = `[${job.keyed.rows.map((r) => `[${JSON.stringify(r.kind)},${r.payload},${r.key === undefined ? "null" : JSON.stringify(r.key)}]`).join(",")}]`;
      const { requestHash, status, responseBody } = job.keyed.record;
      statements.push({ sql: INSERT_KEYED_ROWS, args: [rows, job.projectId, job.source, job.receivedAt, keysSince] });
      statements.push({ sql: INSERT_ROW_KEYS, args: [rows, job.projectId, job.source, job.receivedAt, keysSince, requestHash, status, responseBody] });
    }
  }
  flushSingles();
  // Every job's idempotency record in one statement (one per job would cost a statement preparation each).
  const keys: string[] = [];
  for (const job of jobs) {
    const r = job.idempotency;
    if (r) keys.push(JSON.stringify([job.projectId, r.key, r.requestHash, r.status, r.responseBody, job.receivedAt]));
  }
  if (keys.length > 0) statements.push({ sql: INSERT_KEYS, args: [`[${keys.join(",")}]`] });
  return statements;
}
