import type { Database } from "../db/client";
import { addAdmin } from "../dashboard/accounts";
import { createKey } from "../keys/service";
import { randomToken } from "../lib/ids";

/**
 * The first start on embedded defaults (no config file): create an API key for the `default` project and a
 * dashboard account, and print both once. A `meta` row remembers that this happened.
 */
export async function provisionFirstStart(database: Database, print: (line: string) => void): Promise<boolean> {
  const done = await database.read("SELECT value FROM meta WHERE key = 'first_start'");
  if (done.rows.length > 0) return false;
  const key = await createKey(database, "default", "first start");
  const password = randomToken(20);
  await addAdmin(database, "admin", password, "admin");
  await database.execute({ sql: "INSERT INTO meta (key, value) VALUES ('first_start', ?)", args: [new Date().toISOString()] });
  print("");
  print("  Vibefollow first start — these are shown once, keep them:");
  print(`    API key (project "default"):  ${key.key}`);
  print(`    Dashboard login:              admin / ${password}`);
  print("");
  return true;
}
