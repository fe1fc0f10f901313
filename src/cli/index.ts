#!/usr/bin/env bun
import { admin } from "./admin";
import { audiences } from "./audiences";
import { checkConfig } from "./check-config";
import { UsageError, type Command } from "./command";
import { keys } from "./keys";
import { migrate } from "./migrate";
import { serve } from "./serve";
import { version } from "./version";

/** Every subcommand, in the order `vibefollow --help` lists them. */
export const COMMANDS: Command[] = [serve, migrate, checkConfig, keys, admin, audiences, version];

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

export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(mainHelp());
    return name ? 0 : 2;
  }
  if (name === "--version") return version.run([]);
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
    throw e;
  }
}

if (import.meta.main) {
  const code = await runCli(process.argv.slice(2));
  process.exit(code);
}
