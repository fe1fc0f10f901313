import type { Database } from "../db/client";
import { now } from "../lib/clock";
import { newId, randomToken } from "../lib/ids";
import { KEY_HASH, prepareKey } from "../keys/service";

/**
 * The first start on embedded defaults (no config file): create an API key for the `default` project and a
 * dashboard account `admin`, and print both once. The key, the account and the `meta` row that remembers this
 * are written in one transaction, so a crash half-way leaves nothing and the next start simply tries again
 * (rather than failing forever on an `admin` that exists while the key was never printed).
 * If a dashboard account already exists (`vibefollow admin add` ran first), no password is invented.
 * The generated password is random (100 bits), so it is hashed at the same OWASP-baseline Argon2id cost as keys.
 */
export async function provisionFirstStart(database: Database, print: (line: string) => void): Promise<boolean> {
  const done = await database.read("SELECT value FROM meta WHERE key = 'first_start'");
  if (done.rows.length > 0) return false;
  const hasAccounts = (await database.read("SELECT 1 FROM admin_users LIMIT 1")).rows.length > 0;
  const password = hasAccounts ? undefined : randomToken(20);
  // Both hashes at once (Bun hashes on its thread pool): this is on the path to the first /readyz.
  const [{ key, row }, passwordHash] = await Promise.all([
    prepareKey("default", "first start"),
    password === undefined ? undefined : Bun.password.hash(password, KEY_HASH),
  ]);
  const t = now();
  await database.batch([
    {
      sql: "INSERT INTO api_keys (id, project_id, name, lookup_prefix, last4, hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      args: [row.id, row.projectId, row.name, row.lookupPrefix, row.last4, row.hash, row.createdAt],
    },
    ...(password === undefined
      ? []
      : [{
          sql: "INSERT INTO admin_users (id, username, role, password_hash, created_at) VALUES (?, 'admin', 'admin', ?, ?)",
          args: [newId("adm"), passwordHash!, t],
        }]),
    // A plain INSERT: if two processes raced through the check above, the second batch fails as a whole.
    { sql: "INSERT INTO meta (key, value) VALUES ('first_start', ?)", args: [new Date(t).toISOString()] },
  ]);
  print("");
  print("  Vibefollow first start — these are shown once, keep them:");
  print(`    API key (project "default"):  ${key}`);
  // One value per line, each after its own label ("password: …"): what someone scripting the first start, or
  // reading it in `docker logs`, looks for.
  if (password === undefined) print("    Dashboard login:              your existing account");
  else {
    print("    Dashboard user:               admin");
    print(`    Dashboard password:           ${password}`);
  }
  print("");
  return true;
}
