import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { COMMANDS, runCli as runInProcess } from "../../src/cli/index";
import { emptyDir, runCli, type RunResult } from "./support";

// Real processes on a shared machine: the same allowance as `npm test` (--timeout 60000) when run directly.
setDefaultTimeout(60_000);

/** The CLI's surface: help for every command, version, and wrong invocations, as a user's shell sees them. */
const tmp = emptyDir();
afterAll(() => tmp.cleanup());

const SPEC_COMMANDS = ["serve", "migrate", "check-config", "keys", "version"];
/** `runCli` in this process with console.log/error captured: the same dispatch code, without a process per
 * command (the subprocess tests below cover the process boundary). */
async function runCaptured(args: string[]): Promise<RunResult> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { log: console.log, error: console.error };
  console.log = (...a: unknown[]) => void out.push(a.join(" ") + "\n");
  console.error = (...a: unknown[]) => void err.push(a.join(" ") + "\n");
  try {
    const code = await runInProcess(args);
    return { code, stdout: out.join(""), stderr: err.join("") };
  } finally {
    Object.assign(console, saved);
  }
}

let helps: RunResult[] = [];
beforeAll(async () => {
  for (const c of COMMANDS) helps.push(await runCaptured([c.name, "--help"]));
});

test("the SPEC's commands all exist", () => {
  for (const name of SPEC_COMMANDS) expect(COMMANDS.map((c) => c.name)).toContain(name);
});

test("`<command> --help` prints that command's usage, mentions --config, exits 0 and does nothing else", () => {
  COMMANDS.forEach((c, i) => {
    const r = helps[i]!;
    expect({ command: c.name, code: r.code }).toEqual({ command: c.name, code: 0 });
    expect(r.stdout.trim()).toBe(c.usage.trim());
    expect(r.stdout).toStartWith(`vibefollow ${c.name}`);
    expect(r.stdout).toContain("--config PATH");
    expect(r.stdout).toContain("--help");
  });
});

test("`--help` after an action and `-h` work too", async () => {
  const [a, b] = await Promise.all([runCli(["keys", "create", "--help"], { cwd: tmp.dir }), runCli(["serve", "-h"], { cwd: tmp.dir })]);
  expect(a.code).toBe(0);
  expect(a.stdout).toContain("vibefollow keys create --project ID --name NAME");
  expect(b.code).toBe(0);
  expect(b.stdout).toContain("SIGTERM or SIGINT");
});

test("no arguments print the command list (exit 2); --help and `help` print it with exit 0", async () => {
  const none = await runCli([], { cwd: tmp.dir });
  const help = await runCaptured(["--help"]);
  const word = await runCaptured(["help"]);
  const topic = await runCaptured(["help", "keys"]);
  const badTopic = await runCaptured(["help", "nope"]);
  expect(none.code).toBe(2);
  expect(help.code).toBe(0);
  expect(word.code).toBe(0);
  for (const r of [none, help, word]) {
    expect(r.stdout).toContain("usage: vibefollow <command>");
    for (const c of COMMANDS) expect(r.stdout).toContain(`  ${c.name} `);
  }
  expect(topic.stdout).toContain("vibefollow keys revoke KEY_ID");
  expect(badTopic.code).toBe(2);
  expect(badTopic.stderr).toContain('unknown command "nope"');
});

test("--config with no command says the command is missing, not that --config is an unknown command", async () => {
  for (const args of [["--config", "vf.toml"], ["--config=vf.toml"]]) {
    const r = await runCaptured(args);
    expect({ args, code: r.code }).toEqual({ args, code: 2 });
    expect(r.stderr).toStartWith("no command given (usage: vibefollow <command> --config PATH)");
  }
});

test("version prints the package version", async () => {
  const v = await runCli(["version"], { cwd: tmp.dir });
  const flag = await runCaptured(["--version"]);
  expect(v.code).toBe(0);
  expect(v.stdout).toStartWith(`vibefollow ${pkg.version} (bun `);
  expect(flag.stdout).toBe(v.stdout);
});

test("an unknown command or flag is a usage error: exit 2, message and usage on stderr", async () => {
  const cmd = await runCaptured(["srve"]);
  const flag = await runCli(["check-config", "--nope"], { cwd: tmp.dir });
  expect(cmd.code).toBe(2);
  expect(cmd.stderr).toContain('unknown command "srve"');
  expect(flag.code).toBe(2);
  expect(flag.stderr).toContain("vibefollow check-config: Unknown option '--nope'");
  expect(flag.stderr).toContain("vibefollow check-config [--config PATH]");
});

test("an extra argument is a usage error, not ignored: `evaluate dry-run` (dashes forgotten) does not run", async () => {
  for (const args of [["evaluate", "dry-run"], ["backup", "a.db", "b.db"], ["version", "extra"], ["keys", "revoke", "key_1", "key_2"]]) {
    const r = await runCaptured(args);
    expect({ args, code: r.code }).toEqual({ args, code: 2 });
    expect(r.stderr).toContain(`vibefollow ${args[0]}: unexpected argument: "${args.at(-1)}"`);
  }
});

test("serve --listen with a bad address is a usage error (exit 2) before anything starts", async () => {
  const config = join(tmp.dir, "listen.toml");
  await Bun.write(config, `[database]\nurl = "file:${join(tmp.dir, "listen.db")}"\n`);
  for (const listen of ["foo", "127.0.0.1:99999", "127.0.0.1:"]) {
    const r = await runCaptured(["serve", "--listen", listen, "--config", config]);
    expect({ listen, code: r.code }).toEqual({ listen, code: 2 });
    expect(r.stderr).toContain(`--listen: expected an address "host:port"`);
  }
});

test("listing keys or quarantined items of a project the config does not know says so (a typo is not an empty list)", async () => {
  const config = join(tmp.dir, "notes.toml");
  await Bun.write(config, `[database]\nurl = "file:${join(tmp.dir, "notes.db")}"\n[[projects]]\nid = "acme"\n`);
  expect((await runCaptured(["migrate", "--config", config])).code).toBe(0); // only serve and migrate create a database
  for (const args of [["keys", "list"], ["quarantine", "list"]]) {
    const r = await runCaptured([...args, "--project", "acme", "--config", config]);
    expect(r.stderr).toBe("");
    const typo = await runCaptured([...args, "--project", "acmee", "--config", config]);
    expect(typo.code).toBe(0);
    expect(typo.stderr).toContain('note: project "acmee" is not in the config (known: acme)');
  }
});

test("healthcheck exits 1 on wrong usage too, a bad --timeout, an unknown flag or an extra argument (Docker reserves exit code 2)", async () => {
  const r = await runCaptured(["healthcheck", "--timeout", "abc", "--url", "http://127.0.0.1:9"]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("--timeout is a number of milliseconds");
  for (const args of [["healthcheck", "--bogus"], ["healthcheck", "extra"], ["healthcheck", "--url"]]) {
    const wrong = await runCaptured(args);
    expect({ args, code: wrong.code }).toEqual({ args, code: 1 });
    expect(wrong.stderr).toContain("vibefollow healthcheck [--config PATH]");
  }
});

test("an operational failure is one line and exit 1, not a stack trace", async () => {
  const blocker = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("busy") });
  try {
    const r = await runCli(["serve", "--listen", `127.0.0.1:${blocker.port}`], { cwd: tmp.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^vibefollow serve: .*\n$/m);
    expect(r.stderr).not.toContain("    at ");
  } finally {
    blocker.stop(true);
  }
});

test("--config may come before the command too, in either form", async () => {
  const config = join(tmp.dir, "before.toml");
  await Bun.write(config, `[[projects]]\nid = "before_cmd"\n`);
  for (const args of [["--config", config, "check-config"], [`--config=${config}`, "check-config"], ["check-config", "--config", config]]) {
    const r = await runCaptured(args);
    expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
    expect(r.stdout).toBe(`${config}: OK — 1 project(s): before_cmd\n`);
  }
  // Alone, it is still a usage error: there is no command to run.
  expect((await runCaptured(["--config", config])).code).toBe(2);
});
