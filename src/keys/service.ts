import { and, eq, isNull } from "drizzle-orm";
import type { Database } from "../db/client";
import { apiKeys } from "../db/schema";
import { verifyPassword } from "../lib/argon2";
import { now } from "../lib/clock";
import { newId, randomToken } from "../lib/ids";

/**
 * API keys (SPEC §3): `sk_live_` + 40 random base32 characters (200 bits), stored only as an Argon2id hash
 * plus a 16-character lookup prefix. Shown once, at creation.
 */
const KEY_PATTERN = /^sk_live_[0-9a-z]{32,128}$/;
const PREFIX_LENGTH = 16;

/**
 * Argon2id at OWASP's baseline (19 MiB, 2 passes) rather than Bun's default (64 MiB): a key has 200 random bits,
 * so the hash's cost protects nothing extra, while each first use of a key and each start pays it.
 */
export const KEY_HASH = { algorithm: "argon2id", memoryCost: 19_456, timeCost: 2 } as const;

export type CreatedKey = { id: string; key: string; projectId: string; name: string };
export type KeyInfo = { id: string; projectId: string; name: string; display: string; createdAt: number; lastUsedAt: number | null; revokedAt: number | null };

/** A new key and the row that stores it (hash, lookup prefix, last 4) — nothing else keeps the key. */
export async function prepareKey(projectId: string, name: string) {
  const key = `sk_live_${randomToken(40)}`;
  const row = {
    id: newId("key"),
    projectId,
    name,
    lookupPrefix: key.slice(0, PREFIX_LENGTH),
    last4: key.slice(-4),
    hash: await Bun.password.hash(key, KEY_HASH),
    createdAt: now(),
  };
  return { key, row };
}

export async function createKey(database: Database, projectId: string, name: string): Promise<CreatedKey> {
  const { key, row } = await prepareKey(projectId, name);
  await database.db.insert(apiKeys).values(row);
  return { id: row.id, key, projectId, name };
}

export async function listKeys(database: Database, projectId?: string): Promise<KeyInfo[]> {
  const rows = await database.readDb
    .select()
    .from(apiKeys)
    .where(projectId ? eq(apiKeys.projectId, projectId) : undefined)
    .orderBy(apiKeys.createdAt);
  return rows.map((r) => ({
    id: r.id,
    projectId: r.projectId,
    name: r.name,
    display: displayKey(r.lookupPrefix, r.last4),
    createdAt: r.createdAt,
    lastUsedAt: r.lastUsedAt,
    revokedAt: r.revokedAt,
  }));
}

/** `sk_live_` + the first 8 random characters … the last 4: enough to tell keys apart, 60 of 200 bits shown.
 * (The first 8 characters of every key are `sk_live_`, so those alone would tell nothing.) */
export function displayKey(lookupPrefix: string, last4: string): string {
  return `${lookupPrefix}…${last4}`;
}

/** Revokes an active key (of `projectId` only, when given); false when there is no such key. `verifier`: the
 * running server's cache, which forgets the key at once. */
export async function revokeKey(database: Database, id: string, opts: { verifier?: KeyVerifier; projectId?: string } = {}): Promise<boolean> {
  const { verifier, projectId } = opts;
  const result = await database.execute({
    sql: "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND (?3 IS NULL OR project_id = ?3)",
    args: [now(), id, projectId ?? null],
  });
  verifier?.forget(id);
  return result.rowsAffected > 0;
}

/** A key found valid: its id and its project. */
export type VerifiedKey = { keyId: string; projectId: string };

type CacheEntry = VerifiedKey & { checkedAt: number };

/** The cache key: the key's SHA-256, never the key itself (Bun's hash is ~6x cheaper than node:crypto here). */
const digestOf = (key: string) => Bun.SHA256.hash(key, "base64");

/**
 * How long a verified key is trusted before its row is read again. Shorter than any CLI run (a process start),
 * so a request sent after `vibefollow keys revoke` returned is refused; the cost is one primary-key read per
 * active key per interval, not per request.
 */
export const RECHECK_MS = 100;

/**
 * Verifies presented keys. Argon2id costs tens of milliseconds by design, so a verified key is cached under
 * the SHA-256 of its full text (never the key itself). A revocation in this process drops the entry at once;
 * one made by another process (the CLI) is seen within `recheckMs` (100 ms), when the entry is re-read from the
 * table — a cheap primary-key read, not another Argon2id check.
 */
export class KeyVerifier {
  private readonly cache = new Map<string, CacheEntry>();
  /** Verifications in progress, by key: a burst of requests with a key not cached costs one Argon2id check, not
   * one per request. Entries live only while the check runs. */
  private readonly verifying = new Map<string, Promise<VerifiedKey | undefined>>();
  private readonly lastUsedWritten = new Map<string, number>();

  /** `isConfigured`: a key of a project since removed from the configuration is refused (its items could only
   * go to quarantine). */
  constructor(
    private readonly database: Database,
    private readonly recheckMs = RECHECK_MS,
    private readonly isConfigured: (projectId: string) => boolean = () => true,
  ) {}

  /**
   * A presented key, as a request's auth needs it: valid and unrevoked (its use recorded, `touch`), or undefined.
   * The hot path answers without a promise: a key verified less than `recheckMs` ago comes from the cache.
   * Otherwise one verification runs, shared by every request presenting the same key meanwhile.
   */
  authorize(key: string): VerifiedKey | undefined | Promise<VerifiedKey | undefined> {
    const cached = this.freshEntry(digestOf(key));
    if (cached) return this.used(cached);
    let pending = this.verifying.get(key);
    if (!pending) {
      pending = this.verify(key).finally(() => this.verifying.delete(key));
      this.verifying.set(key, pending);
    }
    return pending.then((verified) => verified && this.used(verified));
  }

  private used(verified: VerifiedKey): VerifiedKey {
    this.touch(verified.keyId);
    return verified;
  }

  /** A wall-time cache interval, deliberately not the injectable clock. */
  private freshEntry(digest: string): CacheEntry | undefined {
    const cached = this.cache.get(digest);
    return cached && performance.now() - cached.checkedAt < this.recheckMs ? cached : undefined;
  }

  /** Returns the project of a valid, unrevoked key, or undefined. */
  async verify(key: string): Promise<VerifiedKey | undefined> {
    if (!KEY_PATTERN.test(key)) return undefined;
    const digest = digestOf(key);
    const hit = this.freshEntry(digest);
    if (hit) return hit;
    const cached = this.cache.get(digest);
    const t = performance.now();
    if (cached) {
      const row = (await this.database.read({ sql: "SELECT revoked_at FROM api_keys WHERE id = ?", args: [cached.keyId] })).rows[0];
      if (!row || row.revoked_at !== null) {
        this.cache.delete(digest);
        return undefined;
      }
      cached.checkedAt = t;
      return cached;
    }
    const candidates = await this.database.readDb
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.lookupPrefix, key.slice(0, PREFIX_LENGTH)), isNull(apiKeys.revokedAt)));
    for (const c of candidates) {
      if (this.isConfigured(c.projectId) && (await verifyPassword(key, c.hash))) {
        const entry = { keyId: c.id, projectId: c.projectId, checkedAt: t };
        this.cache.set(digest, entry);
        return entry;
      }
    }
    return undefined;
  }

  forget(keyId: string): void {
    for (const [digest, entry] of this.cache) if (entry.keyId === keyId) this.cache.delete(digest);
  }

  /** Last-used time, written at most once a minute per key so it costs nothing on the hot path. */
  touch(keyId: string): void {
    const t = now();
    if (t - (this.lastUsedWritten.get(keyId) ?? 0) < 60_000) return;
    this.lastUsedWritten.set(keyId, t);
    this.database.execute({ sql: "UPDATE api_keys SET last_used_at = ? WHERE id = ?", args: [t, keyId] }).catch(() => undefined);
  }
}
