/**
 * `bun run bench`: every benchmark that package.json lists as `bench:<name>`, one after another (they measure
 * the machine, so never in parallel). Each prints its own figures and ratios; this exits non-zero if one failed
 * to run.
 */
import { resolve } from "node:path";
import pkg from "../../package.json" with { type: "json" };

const ROOT = resolve(import.meta.dir, "../..");
const names = Object.keys(pkg.scripts).filter((s) => s.startsWith("bench:"));
const failed: string[] = [];
for (const name of names) {
  console.log(`\n=== ${name}`);
  const proc = Bun.spawnSync([process.execPath, "run", name], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
  if (proc.exitCode !== 0) failed.push(name);
}
console.log(`\n${names.length - failed.length} of ${names.length} benchmarks ran${failed.length ? `; failed: ${failed.join(", ")}` : ""}`);
process.exit(failed.length ? 1 : 0);
