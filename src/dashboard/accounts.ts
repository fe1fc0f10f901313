import { eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { adminUsers } from "../db/schema";
import { now } from "../lib/clock";
import { verifyPassword } from "../lib/argon2";
import { newId } from "../lib/ids";

/** Dashboard accounts (SPEC §11): a name, a role and an Argon2id-hashed password. */
export type Role = "admin" | "viewer";

export async function addAdmin(database: Database, username: string, password: string, role: Role): Promise<void> {
  const passwordHash = await Bun.password.hash(password, { algorithm: "argon2id" });
  await database.db.insert(adminUsers).values({ id: newId("adm"), username, role, passwordHash, createdAt: now() });
}

/** A new password also ends the account's dashboard sessions (in the same transaction): a leaked session dies with the old password. */
export async function setAdminPassword(database: Database, username: string, password: string): Promise<boolean> {
  const passwordHash = await Bun.password.hash(password, { algorithm: "argon2id" });
  const [updated] = await database.batch([
    { sql: "UPDATE admin_users SET password_hash = ? WHERE username = ?", args: [passwordHash, username] },
    { sql: `DELETE FROM dashboard_sessions WHERE ${SESSIONS_OF}`, args: [username] },
  ]);
  return updated!.rowsAffected > 0;
}

export async function removeAdmin(database: Database, username: string): Promise<boolean> {
  const [, removed] = await database.batch([
    { sql: `DELETE FROM dashboard_sessions WHERE ${SESSIONS_OF}`, args: [username] },
    { sql: "DELETE FROM admin_users WHERE username = ?", args: [username] },
  ]);
  return removed!.rowsAffected > 0;
}

const SESSIONS_OF = "admin_id IN (SELECT id FROM admin_users WHERE username = ?)";

/** Checks a login; returns the account or undefined. */
export async function verifyAdmin(database: Database, username: string, password: string) {
  const [row] = await database.readDb.select().from(adminUsers).where(eq(adminUsers.username, username));
  if (!row) {
    // Spend the same time as a real check, so a login does not reveal which names exist.
    await verifyPassword(password, await dummyHash()).catch(() => false);
    return undefined;
  }
  return (await verifyPassword(password, row.passwordHash)) ? row : undefined;
}

// Computed on first use, not at import: a top-level Argon2id hash cost every CLI command and every start ~0.4 s.
let dummy: Promise<string> | undefined;
function dummyHash(): Promise<string> {
  return (dummy ??= Bun.password.hash("not-a-real-password", { algorithm: "argon2id" }));
}
