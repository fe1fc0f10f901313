import { closeSync, openSync } from "node:fs";
import { resolve } from "node:path";
import type { Database } from "../db/client";

/**
 * An online, consistent copy of the database (SPEC §14): `VACUUM INTO` reads one snapshot of the file while
 * the server keeps writing (WAL readers never block the writer), and writes a compact standalone database.
 */
export async function backupDatabase(database: Database, target: string): Promise<{ path: string; bytes: number }> {
  const path = resolve(target);
  if (!database.url.startsWith("file:")) throw new Error("backup works on a local file database; back up a libSQL server with its own tools");
  // The copy holds people's emails and names, like the database file: readable by its owner only. VACUUM INTO
  // fills an empty file, so it is made first, with that mode (and never over an existing one).
  try {
    closeSync(openSync(path, "wx", 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new Error(`${path} already exists; choose a new file name`);
    throw e;
  }
  await database.read({ sql: "VACUUM INTO ?", args: [path] });
  return { path, bytes: Bun.file(path).size };
}
