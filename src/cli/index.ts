#!/usr/bin/env bun
// First, before the other modules load: `serve` may restart itself here (allocator.ts), and the less it has
// loaded by then, the less that costs.
import "./allocator";
import { admin } from "./admin";
import { audiences } from "./audiences";
import { backup } from "./backup";
import { checkConfig } from "./check-config";
import { UsageError, type Command } from "./command";
import { drafts } from "./drafts";
import { evaluate } from "./evaluate";
import { healthcheck } from "./healthcheck";
import { keys } from "./keys";
import { migrate } from "./migrate";
import { quarantine } from "./quarantine";
import { serve } from "./serve";
import { version } from "./version";

/** Every subcommand, in the order `vibefollow --help` lists them. */
export const COMMANDS: Command[] = [serve, migrate, checkConfig, keys, admin, evaluate, audiences, quarantine, drafts, backup, healthcheck, version];

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "vibefollow — follow-up emails that convert SaaS signups",
    "",
    "usage: vibefollow <command> [--config PATH] [options]",
    "",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `vibefollow <command> --help` for a command's options.",
  ].join("\n");
}

/** `vibefollow --config PATH <command> …` as `vibefollow <command> … --config PATH`: the option is taken before
 * the command as well as after it. */
function configLast(argv: string[]): string[] {
  if (argv[0]?.startsWith("--config=")) return [...argv.slice(1), argv[0]];
  if (argv[0] === "--config" && argv.length > 2) return [...argv.slice(2), ...argv.slice(0, 2)];
  return argv;
}

/** Runs one CLI invocation and returns its exit code: 0 ok, 1 failed, 2 wrong usage or bad config. */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = configLast(argv);
  if (!name) {
    console.log(mainHelp()); // help, but exit 2: a script that forgot its command should notice
    return 2;
  }
  if (name === "--help" || name === "-h") {
    console.log(mainHelp());
    return 0;
  }
  if (name === "help") {
    const topic = rest[0] && COMMANDS.find((c) => c.name === rest[0]);
    if (rest[0] && !topic) {
      console.error(`unknown command "${rest[0]}"\n\n${mainHelp()}`);
      return 2;
    }
    console.log(topic ? topic.usage : mainHelp());
    return 0;
  }
  // `vibefollow --config vf.toml` alone: the command was forgotten, "--config" is not one.
  if (name === "--config" || name.startsWith("--config=")) {
    console.error(`no command given (usage: vibefollow <command> --config PATH)\n\n${mainHelp()}`);
    return 2;
  }
  if (name === "--version" || name === "-v") return version.run([]);
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`vibefollow ${command.name}: ${e.message}\n\n${command.usage}`);
      return 2;
    }
    // An operational failure (port in use, unreadable database): one line, the stack only when debugging.
    // A failed query's message carries its parameters (hashes, payloads): show only the database's reason.
    const error = e as Error & { cause?: Error };
    const message = /^Failed query:/.test(error?.message ?? "") && error.cause ? `database error: ${error.cause.message}` : (error?.message ?? String(e));
    console.error(`vibefollow ${command.name}: ${message}`);
    if (process.env.VIBEFOLLOW_DEBUG) console.error(e);
    return 1;
  }
}

// No top-level await: the binary is compiled to bytecode, which needs a module without it.
if (import.meta.main) void runCli(process.argv.slice(2)).then((code) => process.exit(code));
