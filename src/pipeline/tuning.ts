import type { Database } from "../db/client";

/**
 * Settings of the write connection that the normaliser's workload needs (raised, never lowered):
 *
 * - a 64 MiB page cache (as the audiences recompute sets): a batch touches users and index pages all over
 *   the file; with SQLite's default 2 MiB every one of them is a read from the OS;
 * - a WAL auto-checkpoint every 10,000 pages instead of 1,000: one batch dirties about as many pages as the
 *   default threshold, so the default checkpoints after nearly every commit and copies the same hot user
 *   pages again and again. Ten times fewer checkpoints, each page copied once per checkpoint.
 */
const CACHE_KIB = 65_536;
const CHECKPOINT_PAGES = 10_000;
const tuned = new WeakSet<Database>();

export async function tuneForNormaliser(database: Database): Promise<void> {
  if (tuned.has(database) || !database.url.startsWith("file:")) return;
  tuned.add(database);
  const cache = Number((await database.execute("PRAGMA cache_size")).rows[0]?.[0] ?? 0);
  if ((cache < 0 ? -cache : cache * 4) < CACHE_KIB) await database.execute(`PRAGMA cache_size = -${CACHE_KIB}`);
  const pages = Number((await database.execute("PRAGMA wal_autocheckpoint")).rows[0]?.[0] ?? 0);
  if (pages > 0 && pages < CHECKPOINT_PAGES) await database.execute(`PRAGMA wal_autocheckpoint = ${CHECKPOINT_PAGES}`);
}
