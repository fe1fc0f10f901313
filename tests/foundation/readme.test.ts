import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { ROOT } from "./support";

// Real processes on a shared machine: the same allowance as `npm test` (--timeout 60000) when run directly.
setDefaultTimeout(60_000);

/** The README's promises that a test can hold it to. */
const readme = readFileSync(join(ROOT, "README.md"), "utf8");

test("the first two lines are the fresh-machine commands, and package.json backs them", () => {
  const [first, second] = readme.split("\n");
  expect(first!.trimEnd()).toBe("npm ci && npm start");
  expect(second!.trimEnd()).toBe("npm ci && npm test");
  expect(pkg.scripts.start).toBe("bun src/cli/index.ts serve");
  expect(pkg.scripts.test).toStartWith("bun test");
  expect(Object.keys(pkg.devDependencies)).toContain("bun");
  expect(existsSync(join(ROOT, "package-lock.json"))).toBe(true); // npm ci needs it
});

test("every relative link in the README points at a file that exists", () => {
  const links = [...readme.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
  expect(links.length).toBeGreaterThan(5);
  expect(links.filter((l) => !existsSync(join(ROOT, l)))).toEqual([]);
});

test("the CLI table lists every command", async () => {
  const { COMMANDS } = await import("../../src/cli/index");
  for (const c of COMMANDS) expect(readme).toContain(`| \`${c.name}`);
});
