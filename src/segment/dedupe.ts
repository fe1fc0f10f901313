import { createHash } from "node:crypto";
import type { Database } from "../db/client";
import { IDEMPOTENCY_TTL_MS } from "../ingest/idempotency";
import { now } from "../lib/clock";

/**
 * Exact dedupe by `messageId` for 24 h (SPEC §13), in the ingest API's `idempotency_keys` table under the key
 * namespace `segment:<messageId>` (so API keys and message ids never meet), written by the group-commit
 * writer in the same transaction as the message's queue row: after a crash there is either both or neither.
 *
 * Two requests carrying the same messageId at once (a client retrying a batch that timed out while the first
 * attempt is still committing) must not both enqueue it: a request claims all of its ids in memory at once
 * (this process is the only writer), and a request that finds one of its ids claimed waits for that request to
 * finish and then looks again. Claiming all-or-nothing means no request holds some ids while waiting for
 * others, so two requests can never wait on each other.
 */
export const SEGMENT_KEY_PREFIX = "segment:";
const MAX_PLAIN_ID = 200;

/** The idempotency key of a messageId; a very long id is hashed to keep the key bounded. */
export function keyOf(messageId: string): string {
  if (messageId.length <= MAX_PLAIN_ID) return SEGMENT_KEY_PREFIX + messageId;
  return `${SEGMENT_KEY_PREFIX}sha256:${createHash("sha256").update(messageId).digest("base64")}`;
}

export class MessageClaims {
  private readonly held = new Map<string, Promise<void>>();

  constructor(private readonly database: Database) {}

  /** Waits until none of `keys` is held by another request, then holds them all; returns the release. */
  async claim(projectId: string, keys: readonly string[]): Promise<() => void> {
    const ids = keys.map((k) => `${projectId}\n${k}`);
    for (;;) {
      const busy = ids.map((id) => this.held.get(id)).filter((p): p is Promise<void> => p !== undefined);
      if (busy.length === 0) break;
      await Promise.all(busy);
    }
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    for (const id of ids) this.held.set(id, done);
    return () => {
      for (const id of ids) if (this.held.get(id) === done) this.held.delete(id);
      release();
    };
  }

  /** Which of `keys` were already accepted within the last 24 h. */
  async seen(projectId: string, keys: readonly string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const result = await this.database.read({
      sql: "SELECT key FROM idempotency_keys WHERE project_id = ? AND key IN (SELECT value FROM json_each(?)) AND created_at > ?",
      args: [projectId, JSON.stringify(keys), now() - IDEMPOTENCY_TTL_MS],
    });
    return new Set(result.rows.map((r) => String(r.key)));
  }
}
