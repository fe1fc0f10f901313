import { createHash } from "node:crypto";

/**
 * Exact dedupe by `messageId` for 24 h (SPEC §13), in the ingest API's `idempotency_keys` table under the key
 * namespace `segment:<messageId>` (so API keys and message ids never meet). The group-commit writer looks each
 * message's key up inside the commit that would write the message, skips the message if the key is stored, and
 * writes the others' keys in the same transaction as their queue rows (src/ingest/commit-jobs.ts `KeyedRows`):
 * after a crash there is either both or neither.
 *
 * Two requests carrying the same messageId at once (a client retrying a batch that timed out while the first
 * attempt is still committing) must not both enqueue it: a request claims all of its ids in memory at once
 * (this process is the only writer) until its commit is done, and a request that finds one of its ids claimed
 * waits for that request to finish. Its own commit then finds the key stored. Claiming all-or-nothing means no
 * request holds some ids while waiting for others, so two requests can never wait on each other.
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
}
