import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfigText } from "../../src/config/load";
import { openDatabase, type Database } from "../../src/db/client";
import { argon2Stats } from "../../src/lib/argon2";
import { KeyVerifier, createKey, revokeKey } from "../../src/keys/service";
import { startTestServer } from "../support/harness";
import { emptyDir, runCli, startServe } from "./support";

// Real processes on a shared machine: the same allowance as `npm test` (--timeout 60000) when run directly.
setDefaultTimeout(60_000);

/** API keys through the real CLI (subprocesses) against a real database file, checked from a second process. */
const tmp = emptyDir();
const config = join(tmp.dir, "vibefollow.toml");
const dbFile = join(tmp.dir, "db", "vf.db");
const toml = `[database]\nurl = "file:${dbFile}"\n[[projects]]\nid = "acme"\n[[projects]]\nid = "beta"\n`;
writeFileSync(config, toml);
const cli = (...args: string[]) => runCli([...args, "--config", config], { cwd: tmp.dir });

let key = "";
let keyId = "";
let database: Database;

beforeAll(async () => {
  expect((await cli("migrate")).code).toBe(0); // only serve and migrate create a database
  const created = await cli("keys", "create", "--project", "acme", "--name", "ci");
  expect(created.stderr).toContain("This is the only time the key is shown");
  expect(created.code).toBe(0);
  key = created.stdout.trim();
  keyId = /Created (key_[0-9a-z]+)/.exec(created.stderr)![1]!;
  database = await openDatabase(parseConfigText(toml).database);
});
afterAll(() => {
  database.close();
  tmp.cleanup();
});

test("keys create prints exactly one sk_live_ key on stdout", async () => {
  expect(key).toMatch(/^sk_live_[0-9a-z]{40}$/);
});

test("the key is stored only as an Argon2id hash plus a lookup prefix", async () => {
  const row = (await database.read({ sql: "SELECT * FROM api_keys WHERE id = ?", args: [keyId] })).rows[0]!;
  expect(String(row.hash)).toStartWith("$argon2id$");
  expect(row.lookup_prefix).toBe(key.slice(0, 16));
  expect(Object.values(row)).not.toContain(key);
  // Nor anywhere in the file, WAL included.
  await database.execute("PRAGMA wal_checkpoint(TRUNCATE)");
  expect(readFileSync(dbFile).includes(Buffer.from(key.slice(16)))).toBe(false);
});

test("keys list shows the first characters and the last 4, never the key, and when it was last used", async () => {
  let list = await cli("keys", "list");
  expect(list.code).toBe(0);
  const display = `${key.slice(0, 16)}…${key.slice(-4)}`;
  expect(list.stdout).toContain(`${keyId}  acme  ${display}  "ci"  last used: never used  active`);
  expect(list.stdout).not.toContain(key);

  const verifier = new KeyVerifier(database);
  const ok = await verifier.verify(key);
  expect(ok).toEqual({ keyId, projectId: "acme", checkedAt: expect.any(Number) } as any);
  verifier.touch(keyId);
  // touch() writes in the background; give that one statement its turn on the write lock.
  await database.execute("SELECT 1");
  list = await cli("keys", "list", "--json");
  const rows = JSON.parse(list.stdout) as { id: string; display: string; lastUsedAt: number | null }[];
  const mine = rows.find((r) => r.id === keyId)!;
  expect(mine.display).toBe(display);
  expect(mine.lastUsedAt).toBeNumber();
  const text = await cli("keys", "list", "--project", "acme");
  expect(text.stdout).toContain(`last used: ${new Date(mine.lastUsedAt!).toISOString()}`);
});

test("a revocation by the CLI reaches a running verifier by the time the CLI has returned (100 ms recheck)", async () => {
  const verifier = new KeyVerifier(database);
  expect(await verifier.verify(key)).toBeDefined(); // cached now
  const verifiedAt = performance.now();
  const revoked = await cli("keys", "revoke", keyId);
  expect(revoked.code).toBe(0);
  expect(revoked.stdout).toContain(`revoked ${keyId}`);
  // The command returns only once the recheck interval has passed: the very next verification re-reads the row.
  expect(performance.now() - verifiedAt).toBeGreaterThanOrEqual(100);
  expect(await verifier.verify(key)).toBeUndefined();
  expect(await new KeyVerifier(database).verify(key)).toBeUndefined();
  const list = await cli("keys", "list");
  expect(list.stdout).toMatch(new RegExp(`${keyId} .* revoked \\d{4}-`));
  const again = await cli("keys", "revoke", keyId);
  expect(again.code).toBe(1);
  expect(again.stderr).toContain(`no active key ${keyId}`);
});

test("keys revoke also takes the key itself (all keys create printed), and never echoes it back", async () => {
  const created = await cli("keys", "create", "--project", "beta", "--name", "by-secret");
  const secret = created.stdout.trim();
  const id = /Created (key_[0-9a-z]+)/.exec(created.stderr)![1]!;
  const revoked = await cli("keys", "revoke", secret);
  expect(revoked.code).toBe(0);
  expect(revoked.stdout.trim()).toBe(`revoked ${id}`);
  expect(await new KeyVerifier(database).verify(secret)).toBeUndefined();
  const again = await cli("keys", "revoke", secret);
  expect(again.code).toBe(1);
  expect(again.stderr).toContain(`no active key ${secret.slice(0, 16)}…${secret.slice(-4)}`);
  expect(again.stderr + again.stdout).not.toContain(secret);
});

test("a revocation in the serving process takes effect on the very next request", async () => {
  const verifier = new KeyVerifier(database, 60_000);
  const created = await createKey(database, "beta", "in-process");
  expect(await verifier.verify(created.key)).toBeDefined();
  expect(await revokeKey(database, created.id, { verifier })).toBe(true);
  expect(await verifier.verify(created.key)).toBeUndefined();
});

test("malformed and unknown keys are refused", async () => {
  const verifier = new KeyVerifier(database);
  expect(await verifier.verify("sk_live_short")).toBeUndefined();
  expect(await verifier.verify(key.slice(0, -1) + (key.endsWith("a") ? "b" : "a"))).toBeUndefined();
  expect(await verifier.verify("")).toBeUndefined();
});

test("keys create refuses an unknown project, and a missing --project when there are several", async () => {
  const unknown = await cli("keys", "create", "--project", "nope", "--name", "x");
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('unknown project "nope" (known: acme, beta)');
  expect(unknown.stdout).toBe("");
  const missing = await cli("keys", "create", "--name", "x");
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain("--project is required");
  const noAction = await cli("keys");
  expect(noAction.code).toBe(2);
  expect(noAction.stderr).toContain("keys needs an action: create, list or revoke");
});

test("over HTTP: a key revoked with the CLI is refused by a running server within about a second", async () => {
  const served = await startServe(["--config", config], { cwd: tmp.dir });
  try {
    const created = await cli("keys", "create", "--project", "acme", "--name", "http");
    const httpKey = created.stdout.trim();
    const httpKeyId = /Created (key_[0-9a-z]+)/.exec(created.stderr)![1]!;
    const post = () =>
      fetch(served.url + "/api/v1/events", {
        method: "POST",
        headers: { authorization: `Bearer ${httpKey}`, "content-type": "application/json" },
        body: JSON.stringify({ external_user_id: "u1", name: "clicked_thing" }),
      });
    expect((await post()).status).toBe(202);
    expect((await cli("keys", "revoke", httpKeyId)).code).toBe(0);
    const t0 = performance.now();
    let status = 202;
    while ((status = (await post()).status) === 202) {
      expect(performance.now() - t0).toBeLessThan(1_500);
      await Bun.sleep(25);
    }
    expect(status).toBe(401);
  } finally {
    expect(await served.stop()).toBe(0);
  }
});

test("over HTTP: a key revoked in the serving process is refused on the very next request", async () => {
  const server = await startTestServer();
  try {
    const post = () => server.api("/api/v1/events", { body: { external_user_id: "u1", name: "clicked_thing" } });
    expect((await post()).status).toBe(202);
    const [row] = (await server.ctx.database.read("SELECT id FROM api_keys")).rows;
    expect(await revokeKey(server.ctx.database, String(row!.id), { verifier: server.ctx.keys })).toBe(true);
    const res = await post();
    expect(res.status).toBe(401);
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe("auth_required");
  } finally {
    await server.close();
  }
});

test("wrong keys sharing a real key's lookup prefix are checked one at a time, and the real key still verifies", async () => {
  const created = await createKey(database, "beta", "prefix-flood");
  const prefix = created.key.slice(0, 16); // what the dashboard shows of it
  const verifier = new KeyVerifier(database);
  // Each wrong key costs a full Argon2id check (its prefix finds the real key's row); all at once, as a flood.
  const wrong = Array.from({ length: 6 }, (_, i) => verifier.verify(`${prefix}${String(i).padStart(32, "x")}`));
  const real = verifier.verify(created.key);
  expect(await Promise.all(wrong)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  expect((await real)?.projectId).toBe("beta");
  expect(argon2Stats.mostAtOnce).toBe(1);
});
