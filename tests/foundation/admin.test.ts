import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { verifyAdmin } from "../../src/dashboard/accounts";
import { argon2Stats } from "../../src/lib/argon2";
import { openDatabase } from "../../src/db/client";
import { emptyDir, runCli } from "./support";

// Real processes on a shared machine: the same allowance as `npm test` (--timeout 60000) when run directly.
setDefaultTimeout(60_000);

/** `vibefollow admin add|passwd|remove` as subprocesses, the password on stdin, checked against the database. */
const tmp = emptyDir();
afterAll(() => tmp.cleanup());
beforeAll(async () => expect((await runCli(["migrate"], { cwd: tmp.dir })).code).toBe(0)); // only serve and migrate create a database
const admin = (args: string[], stdin?: string) => runCli(["admin", ...args], { cwd: tmp.dir, stdin });

async function login(name: string, password: string) {
  const database = await openDatabase({ url: `file:${join(tmp.dir, "data/vibefollow.db")}`, synchronous: "full", busy_timeout: 5000 });
  try {
    return await verifyAdmin(database, name, password);
  } finally {
    database.close();
  }
}

test("add with a role, change the password, remove — the password only ever on stdin", async () => {
  const added = await admin(["add", "vera", "--role", "viewer"], "first-password\n");
  expect(added.code).toBe(0);
  expect(added.stdout).toBe("added viewer vera\n");
  expect((await login("vera", "first-password"))?.role).toBe("viewer");

  const changed = await admin(["passwd", "vera"], "second-password\n");
  expect(changed.code).toBe(0);
  expect(await login("vera", "first-password")).toBeUndefined();
  expect((await login("vera", "second-password"))?.role).toBe("viewer");

  expect((await admin(["remove", "vera"])).code).toBe(0);
  expect(await login("vera", "second-password")).toBeUndefined();
  const again = await admin(["remove", "vera"]);
  expect(again.code).toBe(1);
  expect(again.stderr).toContain("no account vera");
});

test("--name NAME names the account too, as keys create spells it; two different names are wrong usage", async () => {
  const added = await admin(["add", "--name", "nina"], "nina-password\n");
  expect(added.code).toBe(0);
  expect((await login("nina", "nina-password"))?.role).toBe("admin");
  expect((await admin(["passwd", "--name", "nina"], "nina-password-2\n")).code).toBe(0);
  expect((await login("nina", "nina-password-2"))?.role).toBe("admin");
  const both = await admin(["remove", "nina", "--name", "other"]);
  expect(both.code).toBe(2);
  expect((await admin(["remove", "--name", "nina"])).code).toBe(0);
  expect(await login("nina", "nina-password-2")).toBeUndefined();
});

test("a second account of the same name is refused plainly, with no hash or query in the message", async () => {
  expect((await admin(["add", "olga"], "olga-password\n")).code).toBe(0);
  const dup = await admin(["add", "olga"], "other-password\n");
  expect(dup.code).toBe(1);
  expect(dup.stderr).toBe("an account olga exists already (change its password with: vibefollow admin passwd olga)\n");
  expect((await login("olga", "olga-password"))?.role).toBe("admin");
});

test("a short password is taken with a warning (SPEC sets no minimum); an empty one is refused", async () => {
  const short = await admin(["add", "sam"], "hunter2\n");
  expect(short.code).toBe(0);
  expect(short.stderr).toContain("shorter than 8 characters");
  expect((await login("sam", "hunter2"))?.role).toBe("admin");
  const empty = await admin(["add", "sue"], "\n");
  expect(empty.code).toBe(2);
  expect(empty.stderr).toContain("no password on stdin");
  expect(await login("sue", "")).toBeUndefined();
});

test("wrong usage: a bad role, no name — exit 2", async () => {
  const role = await admin(["add", "pat", "--role", "owner"], "long-enough-password\n");
  expect(role.code).toBe(2);
  expect(role.stderr).toContain('--role is "admin" or "viewer"');
  const noName = await admin(["passwd"]);
  expect(noName.code).toBe(2);
  expect(await login("pat", "long-enough-password")).toBeUndefined();
});

test("sign-ins under many names at once are checked one at a time, and a real one still gets in", async () => {
  expect((await admin(["add", "wanda"], "wanda-password\n")).code).toBe(0);
  const database = await openDatabase({ url: `file:${join(tmp.dir, "data/vibefollow.db")}`, synchronous: "full", busy_timeout: 5000 });
  try {
    // The per-name limit counts per name: a flood under a new name each time still costs a check each.
    const flood = Array.from({ length: 5 }, (_, i) => verifyAdmin(database, `nobody-${i}`, "guess"));
    const real = verifyAdmin(database, "wanda", "wanda-password");
    expect(await Promise.all(flood)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect((await real)?.username).toBe("wanda");
    expect(argon2Stats.mostAtOnce).toBe(1);
  } finally {
    database.close();
  }
});
