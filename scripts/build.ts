/**
 * `bun run build [--target linux-x64-gnu|linux-x64-musl|linux-arm64-gnu|linux-arm64-musl] [--outfile PATH]`
 *
 * Compiles the CLI into one executable (`dist/vibefollow`) with `bun build --compile`. libSQL picks its native
 * library at run time with `require(\`@libsql/${target}\`)`, which the bundler cannot follow, so the binary would
 * look for node_modules on the server. The plugin below rewrites that call to a static
 * `require("@libsql/<target>/index.node")`; Bun then embeds the `.node` file and loads it from the executable.
 * Migrations are embedded too: migrations/index.ts imports each one as text.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { BunPlugin } from "bun";

const TARGETS = ["linux-x64-gnu", "linux-x64-musl", "linux-arm64-gnu", "linux-arm64-musl"] as const;
type Target = (typeof TARGETS)[number];

const root = resolve(import.meta.dir, "..");

/** The target of this machine: the binary we build by default runs where it was built. */
export function hostTarget(): Target {
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  // glibc reports its version in the process report; musl does not.
  const report = (process as any).report?.getReport?.() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const libc = report?.header?.glibcVersionRuntime ? "gnu" : existsSync("/etc/alpine-release") ? "musl" : "gnu";
  return `linux-${arch}-${libc}` as Target;
}

/** Rewrites libsql's dynamic native `require` into a static one the bundler embeds. */
export function embedLibsqlPlugin(target: Target): BunPlugin {
  return {
    name: "embed-libsql-native",
    setup(build) {
      build.onLoad({ filter: /[\\/]node_modules[\\/]libsql[\\/](index|promise)\.js$/ }, async (args) => {
        const source = await Bun.file(args.path).text();
        const dynamic = /require\(`@libsql\/\$\{target\}`\)/g;
        if (!dynamic.test(source)) throw new Error(`${args.path}: libsql's native require() not found — has libsql changed?`);
        return { contents: source.replace(dynamic, `require("@libsql/${target}/index.node")`), loader: "js" };
      });
    },
  };
}

export async function buildBinary(opts: { target?: Target; outfile?: string } = {}): Promise<string> {
  const target = opts.target ?? hostTarget();
  if (!TARGETS.includes(target)) throw new Error(`unknown target "${target}" (one of ${TARGETS.join(", ")})`);
  const nativeLib = join(root, "node_modules/@libsql", target, "index.node");
  if (!existsSync(nativeLib)) {
    // npm installs only the library of the machine it runs on; another target's must be asked for, at the
    // exact version libsql expects (--force: npm otherwise refuses a package for another CPU).
    const version = JSON.parse(readFileSync(join(root, "node_modules/libsql/package.json"), "utf8")).version as string;
    throw new Error(`${nativeLib} is missing: install it first with \`npm install --no-save --force @libsql/${target}@${version}\``);
  }
  const outfile = resolve(opts.outfile ?? join(root, "dist/vibefollow"));
  mkdirSync(dirname(outfile), { recursive: true });
  const options = {
    // The connection threads' entry is bundled too: a Worker's script must be an entrypoint of the binary.
    entrypoints: [join(root, "src/cli/index.ts"), join(root, "src/db/thread-worker.ts")],
    compile: {
      // Same target as this machine: use the running Bun; another one: Bun fetches that runtime from npm.
      ...(target === hostTarget() ? {} : { target: `bun-${target.replace(/-gnu$/, "")}` as any }),
      outfile,
      // The server's behaviour comes from its config and environment only, not from files that happen to
      // sit in its working directory.
      autoloadBunfig: false,
      autoloadDotenv: false,
      autoloadTsconfig: false,
      autoloadPackageJson: false,
    },
    target: "bun" as const,
    minify: true,
    sourcemap: "linked" as const, // dist/vibefollow.map: not needed to run, kept for reading stack traces
    plugins: [embedLibsqlPlugin(target)],
    throw: false,
  };
  // Bytecode roughly halves start-up CPU (start → /readyz is a DESIGN bar). It needs CommonJS output, which
  // rules out top-level await anywhere in src/; if someone adds one, build without it and say so.
  let result = await Bun.build({ ...options, bytecode: true, format: "cjs" });
  if (!result.success) {
    console.warn(`build: bytecode build failed (${String(result.logs[0]).split("\n").slice(0, 3).join(" ")}); building without bytecode`);
    result = await Bun.build(options);
  }
  if (!result.success) {
    for (const l of result.logs) console.error(l);
    throw new Error("build failed");
  }
  return outfile;
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Bun.argv.slice(2), options: { target: { type: "string" }, outfile: { type: "string" } } });
  const started = performance.now();
  try {
    const out = await buildBinary({ target: values.target as Target | undefined, outfile: values.outfile });
    const mb = (statSync(out).size / 1024 / 1024).toFixed(1);
    console.log(`built ${out} (${mb} MiB, ${values.target ?? hostTarget()}) in ${Math.round(performance.now() - started)} ms`);
  } catch (e) {
    console.error(`build: ${(e as Error).message}`);
    process.exit(1);
  }
}
