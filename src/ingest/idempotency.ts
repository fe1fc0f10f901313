import type { Row } from "@libsql/client";
import type { Service } from "../context";
import type { Database } from "../db/client";
import { ApiError } from "../lib/errors";
import { now } from "../lib/clock";
import { log } from "../lib/log";

/**
 * Idempotency keys (SPEC §3). A key is remembered per project for 24 h from its first successful request,
 * in `idempotency_keys`, written in the same transaction as the queue rows it answers for — so a replay
 * after a crash sees either both or neither, and keys survive a restart.
 *
 * While a request with a key is being handled, the key sits in an in-memory set (this process is the only
 * writer): a second request with the same key gets `409 idempotency_key_in_use`. A request that ends in a
 * 4xx or 5xx writes nothing and releases the key, so a corrected retry goes through.
 */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export type StoredResponse = { requestHash: string; status: number; responseBody: string };

/** The stored records of `[project, key]` pairs (a JSON array, `?1`) created after `?2`; `i` is the pair's index. */
export const FIND_KEYS =
  "SELECT j.key AS i, k.request_hash, k.status, k.response_body FROM json_each(?1) AS j " +
  "JOIN idempotency_keys AS k ON k.project_id = j.value ->> 0 AND k.key = j.value ->> 1 WHERE k.created_at > ?2";

/** A row of FIND_KEYS as the record it holds. */
export const storedResponseOf = (row: Row): StoredResponse => ({
  requestHash: String(row.request_hash),
  status: Number(row.status),
  responseBody: String(row.response_body),
});


export class IdempotencyStore {
  private readonly inFlight = new Set<string>();

  constructor(private readonly database: Database) {}

  /** The header value, checked: 1–255 visible ASCII characters (a UUID fits). */
  static parseKey(header: string | null): string | undefined {
    if (header === null) return undefined;
    if (!KEY_PATTERN.test(header)) {
      throw ApiError.of(422, "validation_failed", "Idempotency-Key must be 1 to 255 visible ASCII characters.", "Idempotency-Key");
    }
    return header;
  }

  /** What identifies "the same request": the endpoint and the exact body bytes. */
  static hashRequest(path: string, body: Uint8Array): string {
    return new Bun.SHA256().update(`${path}\n`).update(body).digest("base64"); // Bun's is ~2× node:crypto's here
  }

  /** Marks the key in flight; false when it already is. */
  claim(projectId: string, key: string): boolean {
    const id = `${projectId}\n${key}`;
    if (this.inFlight.has(id)) return false;
    this.inFlight.add(id);
    return true;
  }

  release(projectId: string, key: string): void {
    this.inFlight.delete(`${projectId}\n${key}`);
  }

  /**
   * The remembered response for a key used within the last 24 h, read on the read connection. Only requests
   * refused by their checks come here; the others are looked up inside their commit (commit-jobs.ts).
   */
  async find(projectId: string, key: string): Promise<StoredResponse | undefined> {
    const result = await this.database.read({ sql: FIND_KEYS, args: [JSON.stringify([[projectId, key]]), now() - IDEMPOTENCY_TTL_MS] });
    return result.rows[0] && storedResponseOf(result.rows[0]);
  }

  /** Deletes keys older than 24 h; returns how many. */
  async purge(): Promise<number> {
    const result = await this.database.execute({ sql: "DELETE FROM idempotency_keys WHERE created_at <= ?", args: [now() - IDEMPOTENCY_TTL_MS] });
    return result.rowsAffected;
  }
}

/** Purges expired idempotency keys every `everyMs` (SPEC §14: "purged after 24 h"). */
export function idempotencyPurgeService(store: IdempotencyStore, everyMs = 10 * 60_000): Service {
  let timer: ReturnType<typeof setInterval> | undefined;
  const run = () => store.purge().catch((error) => log.error("idempotency purge failed", { error }));
  return {
    name: "idempotency-purge",
    start() {
      void run();
      timer = setInterval(run, everyMs);
      timer.unref?.();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
