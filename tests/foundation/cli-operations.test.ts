import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfigText } from "../../src/config/load";
import { openDatabase, type Database } from "../../src/db/client";
import { ONLY_WELCOME, startWorld } from "../drafts/support";
import { CLI, cleanEnv, emptyDir, runCli } from "./support";

// Real processes on a shared machine: the same allowance as `npm test` (--timeout 60000) when run directly.
setDefaultTimeout(60_000);

/** The one-shot commands an operator (or cron) runs beside the server: which database they open, whether they
 * write, how they take their arguments, and what `backup` leaves on disk. */
const tmp = emptyDir("vf-cli-ops-");
afterAll(() => tmp.cleanup());

/** A config (project "acme") and its database, migrated by `vibefollow migrate` unless `migrated` is false. */
async function install(name: string, opts: { migrated?: boolean; extra?: string } = {}) {
  const dir = join(tmp.dir, name);
  mkdirSync(dir);
  const config = join(dir, "vf.toml");
  const dbFile = join(dir, "vf.db");
  const toml = `[database]\nurl = "file:${dbFile}"\n${opts.extra ?? ""}\n[[projects]]\nid = "acme"\nname = "Acme"\n`;
  writeFileSync(config, toml);
  if (opts.migrated !== false) expect((await runCli(["migrate", "--config", config], { cwd: dir })).code).toBe(0);
  const open = () => openDatabase(parseConfigText(toml).database);
  return { dir, config, dbFile, toml, open };
}

const names = async (db: Database, sql: string) => (await db.read(sql)).rows.map((r) => String(Object.values(r)[0]));

test("with no database yet, every command but serve and migrate refuses (exit 1, one line naming the file) and creates nothing", async () => {
  const dir = join(tmp.dir, "wrong-directory");
  mkdirSync(dir);
  const commands = [
    ["backup", "nightly.db"],
    ["keys", "list"],
    ["keys", "create", "--name", "k"],
    ["quarantine", "list"],
    ["drafts", "list"],
    ["evaluate"],
    ["evaluate", "--dry-run"],
    ["audiences", "recompute"],
    ["audiences", "list"],
    ["admin", "add", "ann"],
  ];
  const results = await Promise.all(commands.map((args) => runCli(args, { cwd: dir, stdin: "a long password\n" })));
  commands.forEach((args, i) => {
    const r = results[i]!;
    expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 1, stdout: "" });
    expect(r.stderr).toBe(
      `vibefollow ${args[0]}: no database at ${join(dir, "data/vibefollow.db")} (no config file found, so the embedded defaults were used); ` +
        "point at your config with --config PATH or VIBEFOLLOW_CONFIG, or create the database with `vibefollow migrate`\n",
    );
  });
  expect(readdirSync(dir)).toEqual([]); // no ./data/vibefollow.db, no empty "backup"

  // A config whose database.url points nowhere is named as the source.
  const config = join(dir, "vf.toml");
  writeFileSync(config, `[database]\nurl = "file:${join(dir, "missing/vf.db")}"\n`);
  const named = await runCli(["keys", "list", "--config", config], { cwd: dir });
  expect(named.code).toBe(1);
  expect(named.stderr).toContain(`no database at ${join(dir, "missing/vf.db")} (database.url of ${config})`);
  expect(readdirSync(dir)).toEqual(["vf.toml"]);
  const env = await runCli(["keys", "list"], { cwd: dir, env: { VIBEFOLLOW_DATABASE_URL: `file:${join(dir, "env.db")}` } });
  expect(env.code).toBe(1);
  expect(env.stderr).toContain(`no database at ${join(dir, "env.db")} (from VIBEFOLLOW_DATABASE_URL)`);
  // A command that writes, with a config that names the database, creates it: keys and accounts may be set up
  // before the first `serve`.
  writeFileSync(config, `[database]\nurl = "file:${join(dir, "first/vf.db")}"\n[[projects]]\nid = "acme"\n`);
  const created = await runCli(["keys", "create", "--project", "acme", "--name", "first", "--config", config], { cwd: dir });
  expect(created.code).toBe(0);
  expect(created.stdout).toContain("sk_live_");
  expect((await runCli(["keys", "list", "--config", config], { cwd: dir })).stdout).toContain("first");
});

test("read-only commands never take the write lock: they run while another connection holds a long write", async () => {
  // busy_timeout 10 s: a command that waited for the lock would take 10 s and then fail with SQLITE_BUSY.
  const site = await install("busy", { extra: 'busy_timeout = "10s"' });
  expect((await runCli(["keys", "create", "--name", "ci", "--config", site.config], { cwd: site.dir })).code).toBe(0);
  const holder = await site.open();
  const tx = await holder.client.transaction("write");
  try {
    await tx.execute("UPDATE projects SET name = 'uncommitted' WHERE id = 'acme'");
    const t0 = performance.now();
    const backup = await runCli(["backup", "copy.db", "--config", site.config], { cwd: site.dir });
    const backupMs = performance.now() - t0;
    expect(backup.stderr).toBe("");
    expect(backup.code).toBe(0);
    expect(backup.stdout).toStartWith(`backed up to ${join(site.dir, "copy.db")} (`);
    // The copy holds emails and names like the database: readable by its owner only.
    expect((statSync(join(site.dir, "copy.db")).mode & 0o777).toString(8)).toBe("600");
    console.log(`backup beside a held write transaction: ${Math.round(backupMs)} ms (process start included)`);
    expect(backupMs).toBeLessThan(5_000);

    const readers = [
      ["keys", "list"],
      ["quarantine", "list"],
      ["drafts", "list"],
      ["evaluate", "--dry-run"],
      ["evaluate", "--preview", "welcome"],
      ["audiences", "list"],
    ];
    const results = await Promise.all(readers.map((args) => runCli([...args, "--config", site.config], { cwd: site.dir })));
    readers.forEach((args, i) => expect({ args, code: results[i]!.code, stderr: results[i]!.stderr }).toEqual({ args, code: 0, stderr: "" }));
    expect(results[0]!.stdout).toContain('"ci"');
  } finally {
    await tx.rollback();
    tx.close();
  }
  // The copy is the committed snapshot, not the transaction in flight.
  const copy = await openDatabase({ url: `file:${join(site.dir, "copy.db")}`, synchronous: "full", busy_timeout: 5000 });
  try {
    expect(await names(copy, "SELECT name FROM projects")).toEqual(["Acme"]);
    expect(await names(copy, "SELECT name FROM api_keys")).toEqual(["ci"]);
  } finally {
    copy.close();
  }
  holder.close();
});

test("a read-only command with another config does not rename the live database's projects", async () => {
  const site = await install("rename");
  expect((await runCli(["keys", "create", "--name", "ci", "--config", site.config], { cwd: site.dir })).code).toBe(0); // a write syncs "Acme"
  const other = join(site.dir, "other.toml");
  writeFileSync(other, `[database]\nurl = "file:${site.dbFile}"\n[[projects]]\nid = "acme"\nname = "Someone Else"\n`);
  for (const args of [["keys", "list"], ["quarantine", "list"], ["drafts", "list"], ["evaluate", "--dry-run"], ["audiences", "list"]]) {
    expect({ args, code: (await runCli([...args, "--config", other], { cwd: site.dir })).code }).toEqual({ args, code: 0 });
  }
  const db = await site.open();
  try {
    expect(await names(db, "SELECT name FROM projects")).toEqual(["Acme"]);
  } finally {
    db.close();
  }
});

test("a read-only command on a database not migrated to this version says so (exit 1) and migrates nothing; backup still copies it", async () => {
  const site = await install("unmigrated", { migrated: false });
  (await site.open()).close(); // the file exists, with no schema
  const r = await runCli(["keys", "list", "--config", site.config], { cwd: site.dir });
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(`vibefollow keys: the database ${site.dbFile} is not migrated to this version: run \`vibefollow migrate\` (or start \`vibefollow serve\`) first\n`);
  const db = await site.open();
  try {
    expect(await names(db, "SELECT name FROM sqlite_master")).toEqual([]);
  } finally {
    db.close();
  }
  // A copy taken before an upgrade's migration is what a backup is for.
  expect((await runCli(["backup", "before-upgrade.db", "--config", site.config], { cwd: site.dir })).code).toBe(0);
});

test("each action takes exactly its own words: an extra one is exit 2 and does nothing", async () => {
  const site = await install("words");
  const wrong = [
    ["keys", "create", "backend", "--project", "acme"], // --name forgotten: must not create a key "unnamed"
    ["keys", "list", "extra"],
    ["quarantine", "list", "extra"],
    ["quarantine", "show", "qtn_1", "extra"],
    ["drafts", "list", "extra"],
    ["drafts", "approve", "drf_1", "extra"],
    ["audiences", "list", "extra"],
    ["admin", "remove", "ann", "extra"],
  ];
  const results = await Promise.all(wrong.map((args) => runCli([...args, "--config", site.config], { cwd: site.dir })));
  wrong.forEach((args, i) => {
    const r = results[i]!;
    expect({ args, code: r.code }).toEqual({ args, code: 2 });
    expect(r.stderr).toStartWith(`vibefollow ${args[0]}: unexpected argument: "${i === 0 ? "backend" : "extra"}"\n`);
  });
  expect((await runCli(["keys", "list", "--config", site.config], { cwd: site.dir })).stdout).toBe("no keys\n");
});

test("an unknown action is called that, not a missing one", async () => {
  const cases = [
    [["admin", "list"], 'vibefollow admin: unknown action "list" (admin takes add, passwd or remove)'],
    [["keys", "frob"], 'vibefollow keys: unknown action "frob" (keys takes create, list or revoke)'],
    [["quarantine", "frob"], 'vibefollow quarantine: unknown action "frob" (quarantine takes list, show, replay or discard)'],
    [["drafts", "frob"], 'vibefollow drafts: unknown action "frob" (drafts takes list, show, approve, reject or reschedule)'],
    [["audiences", "frob"], 'vibefollow audiences: unknown action "frob" (audiences takes list or recompute)'],
    [["admin"], "vibefollow admin: admin needs an action: add, passwd or remove"],
  ] as const;
  const results = await Promise.all(cases.map(([args]) => runCli([...args], { cwd: tmp.dir })));
  cases.forEach(([args, message], i) => {
    expect({ args, code: results[i]!.code }).toEqual({ args, code: 2 });
    expect(results[i]!.stderr).toStartWith(`${message}\n`);
  });
});

test("drafts reschedule --at without a zone means UTC, whatever the machine's zone; an impossible date is wrong usage", async () => {
  const w = await startWorld(ONLY_WELCOME);
  await w.signUp("fay");
  await w.evaluate();
  const [draft] = await w.sql("SELECT id FROM drafts");
  const config = join(w.server.dir, "cli.toml");
  writeFileSync(config, `[database]\nurl = "file:${join(w.server.dir, "vf.db")}"\n[[projects]]\nid = "acme"\nname = "Acme"\n${ONLY_WELCOME}`);
  const reschedule = (at: string) => runCli(["drafts", "reschedule", draft!.id, "--at", at, "--json", "--config", config], { env: { TZ: "Asia/Tokyo" } });
  const moved = await reschedule("2030-01-02T10:00:00");
  expect(moved.stderr).toBe("");
  expect(moved.code).toBe(0);
  expect(new Date(JSON.parse(moved.stdout).deadline).toISOString()).toBe("2030-01-02T10:00:00.000Z");
  for (const bad of ["2030-02-30T10:00:00", "2030-01-02T25:00:00Z", "tomorrow"]) {
    const r = await reschedule(bad);
    expect({ bad, code: r.code }).toEqual({ bad, code: 2 });
    expect(r.stderr).toContain(`--at must be an ISO 8601 time`);
  }
});

test("backup refuses a directory-looking FILE (exit 2) and says plainly when it cannot write there (exit 1)", async () => {
  const site = await install("paths");
  const before = readdirSync(site.dir).sort();
  const slash = await runCli(["backup", "new/", "--config", site.config], { cwd: site.dir });
  expect(slash.code).toBe(2);
  expect(slash.stderr).toStartWith('vibefollow backup: FILE must name a file, not a directory: "new/"\n');
  for (const file of ["missing/dir/b.db", "vf.toml/b.db"]) {
    const r = await runCli(["backup", file, "--config", site.config], { cwd: site.dir });
    expect({ file, code: r.code }).toEqual({ file, code: 1 });
    expect(r.stderr).toBe(`vibefollow backup: cannot write the backup in ${join(site.dir, file, "..")}: the directory does not exist\n`);
  }
  expect(readdirSync(site.dir).sort()).toEqual(before);
});

test("a backup stopped by SIGTERM leaves nothing at (or beside) FILE, and a retry with the same name works", async () => {
  const site = await install("interrupted");
  // ~160 MB, so the copy runs long enough to be caught in the act.
  const db = await site.open();
  await db.execute("CREATE TABLE filler (b BLOB)");
  await db.execute("INSERT INTO filler WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 160) SELECT randomblob(1048576) FROM n");
  await db.closeWhenIdle();
  const out = join(site.dir, "out");
  mkdirSync(out);
  const proc = Bun.spawn([process.execPath, CLI, "backup", join(out, "b.db"), "--config", site.config], { cwd: site.dir, env: cleanEnv(), stdout: "pipe", stderr: "pipe" });
  // Signal as soon as the copy has started writing.
  while (readdirSync(out).length === 0 && proc.exitCode === null) await Bun.sleep(2);
  expect(proc.exitCode).toBeNull(); // else the copy finished before it could be interrupted: make the database bigger
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(143);
  expect(readdirSync(out)).toEqual([]);
  expect(await new Response(proc.stderr).text()).toContain("interrupted by SIGTERM; no backup written");

  const retry = await runCli(["backup", join(out, "b.db"), "--config", site.config], { cwd: site.dir });
  expect(retry.code).toBe(0);
  expect(readdirSync(out)).toEqual(["b.db"]);
});

test("a backup removes the temporary files that a killed earlier backup to the same FILE left, and no one else's", async () => {
  const site = await install("abandoned");
  const out = join(site.dir, "out");
  mkdirSync(out);
  // A SIGKILLed backup (its process gone: no pid is this high) left its copy and journal; another file stays.
  const dead = 4_194_305; // above Linux's pid_max
  for (const name of [`.b.db.${dead}.partial`, `.b.db.${dead}.partial-journal`, `.other.db.${dead}.partial`, "keep.txt"]) writeFileSync(join(out, name), "x");
  const r = await runCli(["backup", join(out, "b.db"), "--config", site.config], { cwd: site.dir });
  expect(r.code).toBe(0);
  expect(readdirSync(out).sort()).toEqual([`.other.db.${dead}.partial`, "b.db", "keep.txt"]);
});

test("--project refuses another project's draft or key (exit 1, nothing changed), as it does quarantined items", async () => {
  const w = await startWorld(ONLY_WELCOME);
  await w.signUp("gus");
  await w.evaluate();
  const [draft] = await w.sql("SELECT id FROM drafts");
  const config = join(w.server.dir, "cli-projects.toml");
  writeFileSync(config, `[database]\nurl = "file:${join(w.server.dir, "vf.db")}"\n[[projects]]\nid = "acme"\nname = "Acme"\n${ONLY_WELCOME}\n[[projects]]\nid = "beta"\n`);
  const cli = (...args: string[]) => runCli([...args, "--config", config]);
  for (const args of [["drafts", "show", draft!.id], ["drafts", "reject", draft!.id], ["drafts", "approve", draft!.id], ["drafts", "reschedule", draft!.id, "--at", "2030-01-02T10:00:00Z"]]) {
    const r = await cli(...args, "--project", "beta");
    expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 1, stdout: "" });
  }
  expect((await w.sql("SELECT state FROM drafts"))[0]!.state).toBe("pending_review");
  expect((await cli("drafts", "show", draft!.id, "--project", "acme")).code).toBe(0);

  const created = await cli("keys", "create", "--project", "acme", "--name", "backend");
  const [keyId] = (await w.sql("SELECT id FROM api_keys WHERE name = 'backend'")).map((r) => String(r.id));
  expect(created.code).toBe(0);
  const wrong = await cli("keys", "revoke", keyId!, "--project", "beta");
  expect([wrong.code, wrong.stderr]).toEqual([1, `no active key ${keyId} in project "beta"\n`]);
  expect((await w.sql("SELECT revoked_at FROM api_keys WHERE id = ?", [keyId!]))[0]!.revoked_at).toBeNull();
  expect((await cli("keys", "revoke", keyId!, "--project", "acme")).code).toBe(0);
  expect((await w.sql("SELECT revoked_at FROM api_keys WHERE id = ?", [keyId!]))[0]!.revoked_at).not.toBeNull();
});
