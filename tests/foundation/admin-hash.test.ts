import { afterEach, expect, test } from "bun:test";
import { addAdmin, setAdminPassword, verifyAdmin } from "../../src/dashboard/accounts";
import { startTestServer, type TestServer } from "../support/harness";

// SPEC §11: dashboard accounts have an Argon2id-hashed password.
const open: TestServer[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

async function storedHash(server: TestServer, username: string): Promise<string> {
  const rs = await server.ctx.database.read({ sql: "SELECT password_hash FROM admin_users WHERE username = ?", args: [username] });
  expect(rs.rows).toHaveLength(1);
  return String(rs.rows[0]!.password_hash);
}

test("an added account's password is stored as an Argon2id hash, never as the password", async () => {
  const server = await startTestServer("", { background: false });
  open.push(server);
  const password = "correct horse battery staple";
  await addAdmin(server.ctx.database, "hana", password, "admin");
  const hash = await storedHash(server, "hana");
  expect(hash).toStartWith("$argon2id$");
  expect(hash).not.toContain(password);
  expect(hash).not.toBe(password);
  expect(await Bun.password.verify(password, hash)).toBe(true);
  expect((await verifyAdmin(server.ctx.database, "hana", password))?.username).toBe("hana");

  // A new password is hashed the same way (a fresh salt: never the old hash).
  const next = "another long password";
  expect(await setAdminPassword(server.ctx.database, "hana", next)).toBe(true);
  const changed = await storedHash(server, "hana");
  expect(changed).toStartWith("$argon2id$");
  expect(changed).not.toContain(next);
  expect(changed).not.toBe(hash);
  expect(await verifyAdmin(server.ctx.database, "hana", password)).toBeUndefined();
  expect((await verifyAdmin(server.ctx.database, "hana", next))?.username).toBe("hana");
});

test("two accounts with the same password get different hashes (salted)", async () => {
  const server = await startTestServer("", { background: false });
  open.push(server);
  await addAdmin(server.ctx.database, "a1", "same-password-1", "admin");
  await addAdmin(server.ctx.database, "v1", "same-password-1", "viewer");
  const [h1, h2] = [await storedHash(server, "a1"), await storedHash(server, "v1")];
  expect(h1).toStartWith("$argon2id$");
  expect(h2).toStartWith("$argon2id$");
  expect(h1).not.toBe(h2);
});
