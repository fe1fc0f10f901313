import { dlopen, FFIType, ptr } from "bun:ffi";
import { realpathSync } from "node:fs";
import { join } from "node:path";

/**
 * `serve` runs with Bun's allocator (mimalloc) told never to hand freed pages back to the OS
 * (`MIMALLOC_PURGE_DELAY=-1`). By default mimalloc returns them within milliseconds, and ingest's steady churn
 * (request buffers, the messages to the write thread) then faults the same pages back in, on the main thread:
 * single-event throughput is 10–18% higher without that (docs/benchmarks.md, "Eighth session"; a bare
 * `Bun.serve` gains nothing from it). The price: memory once used stays with the process, so its RSS is its
 * peak rather than its current use.
 *
 * mimalloc reads its options when the process starts, so the setting only takes effect in a process started
 * with it. When it is unset, `serve` replaces itself (execve: same PID, same arguments, same stdio, nothing
 * opened yet) with a copy of itself that has it. Setting `MIMALLOC_PURGE_DELAY` yourself (`10` is mimalloc's
 * default) skips this and keeps your value. Where execve cannot be reached (not Linux, no libc found), serve
 * runs on as it is.
 */
function restartWithAllocatorTuning(): void {
  if (process.platform !== "linux" || process.env.MIMALLOC_PURGE_DELAY !== undefined) return;
  const execve = loadExecve();
  if (!execve) return;
  // A compiled binary's argv is ["bun", "/$bunfs/root/<name>", …arguments]; under bun it is [bun, script, …].
  const compiled = Bun.main.startsWith("/$bunfs/");
  const args = compiled ? [process.execPath, ...process.argv.slice(2)] : [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  const env = Object.entries({ ...process.env, MIMALLOC_PURGE_DELAY: "-1" }).map(([k, v]) => `${k}=${v}`);
  execve(process.execPath, args, env); // returns only if it failed: serve goes on untuned
}

type Execve = (path: string, args: string[], env: string[]) => number;

function loadExecve(): Execve | undefined {
  for (const name of ["libc.so.6", `libc.musl-${process.arch === "arm64" ? "aarch64" : "x86_64"}.so.1`]) {
    try {
      const libc = dlopen(name, { execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 } });
      return (path, args, env) => {
        const cPath = cString(path);
        const cArgs = cStringArray(args);
        const cEnv = cStringArray(env);
        const failed = libc.symbols.execve(ptr(cPath), ptr(cArgs.pointers), ptr(cEnv.pointers));
        void [cArgs.buffers, cEnv.buffers]; // alive until here: the pointers above point into them
        return failed;
      };
    } catch {
      // not this libc: try the next
    }
  }
  return undefined;
}

const cString = (s: string) => Buffer.from(`${s}\0`, "utf8");

/** A NULL-terminated `char *[]`; the strings are returned too, so they stay alive until the call. */
function cStringArray(strings: string[]) {
  const buffers = strings.map(cString);
  const pointers = new BigUint64Array(buffers.length + 1);
  buffers.forEach((b, i) => (pointers[i] = BigInt(ptr(b))));
  return { buffers, pointers };
}

/** The process was started as the CLI (`bun src/cli/index.ts …`, the package's `vibefollow` bin link, or the
 * compiled binary), not as a test or a script that imports it. */
const startedAsCli = () => Bun.main.startsWith("/$bunfs/") || realPath(Bun.main) === join(import.meta.dir, "index.ts");

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

// Imported first by index.ts, so this runs before the rest of the CLI has loaded.
if (process.argv[2] === "serve" && startedAsCli()) restartWithAllocatorTuning();
