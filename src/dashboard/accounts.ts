import { eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { adminUsers } from "../db/schema";
import { now } from "../lib/clock";
import { newId } from "../lib/ids";

/** Dashboard accounts (SPEC §11): a name, a role and an Argon2id-hashed password. */
export type Role = "admin" | "viewer";

export async function addAdmin(database: Database, username: string, password: string, role: Role): Promise<void> {
  const passwordHash = await Bun.password.hash(password, { algorithm: "argon2id" });
  await database.db.insert(adminUsers).values({ id: newId("adm"), username, role, passwordHash, createdAt: now() });
}

export async function setAdminPassword(database: Database, username: string, password: string): Promise<boolean> {
  const passwordHash = await Bun.password.hash(password, { algorithm: "argon2id" });
  const rows = await database.db.update(adminUsers).set({ passwordHash }).where(eq(adminUsers.username, username)).returning();
  return rows.length > 0;
}

export async function removeAdmin(database: Database, username: string): Promise<boolean> {
  const rows = await database.db.delete(adminUsers).where(eq(adminUsers.username, username)).returning();
  return rows.length > 0;
}

/** Checks a login; returns the account or undefined. */
export async function verifyAdmin(database: Database, username: string, password: string) {
  const [row] = await database.readDb.select().from(adminUsers).where(eq(adminUsers.username, username));
  if (!row) {
    // Spend the same time as a real check, so a login does not reveal which names exist.
    await Bun.password.verify(password, await dummyHash()).catch(() => false);
    return undefined;
  }
  return (await Bun.password.verify(password, row.passwordHash)) ? row : undefined;
}

// Computed on first use, not at import: a top-level Argon2id hash cost every CLI command and every start ~0.4 s.
let dummy: Promise<string> | undefined;
function dummyHash(): Promise<string> {
  return (dummy ??= Bun.password.hash("not-a-real-password", { algorithm: "argon2id" }));
}
