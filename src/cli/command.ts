import { parseArgs, type ParseArgsConfig } from "node:util";
import { ConfigError, loadConfig, resolveConfigPath, type LoadedConfig } from "../config/load";
import { openDatabase, type Database } from "../db/client";
import { migrate } from "../db/migrate";
import { syncProjects } from "../keys/projects";

/** A CLI subcommand: one file each under src/cli/, listed in index.ts. */
export type Command = {
  name: string;
  summary: string;
  /** Full help text shown by `--help`. */
  usage: string;
  run(argv: string[]): Promise<number>;
};

/** Thrown for a wrong invocation: printed with the command's usage, exit code 2. */
export class UsageError extends Error {}

/** `--limit N`: a positive whole number (one SQLite can bind: `1e308` is refused here, not by the database). */
export function parseLimit(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const limit = Number(value);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError("--limit must be a positive integer");
  return limit;
}

/**
 * For listings that may show rows of a project since removed from the config (its keys, its quarantined
 * items): a `--project` the config does not know is still listed, with a note on stderr — so a typo does not
 * pass for an empty list.
 */
export function noteUnconfiguredProject(config: { projects: { id: string }[] }, id: string | undefined): void {
  if (id !== undefined && !config.projects.some((p) => p.id === id)) {
    console.error(`note: project "${id}" is not in the config (known: ${config.projects.map((p) => p.id).join(", ")}); listing what the database holds for it`);
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses flags common to every command (`--config`, `--help`) plus the command's own, and at most
 * `maxPositionals` words: an extra one is a mistake to report, not to ignore (`evaluate dry-run`, dashes
 * forgotten, must not do a real run).
 */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, maxPositionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { config: { type: "string" }, help: { type: "boolean", short: "h" }, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const extra = parsed.positionals.slice(maxPositionals);
  if (extra.length > 0) throw new UsageError(`unexpected argument${extra.length > 1 ? "s" : ""}: ${extra.map((a) => JSON.stringify(a)).join(" ")}`);
  return parsed;
}

/** Loads the config for a command; a bad config prints every problem and exits 2. */
export function loadForCommand(configFlag: string | undefined): LoadedConfig {
  try {
    return loadConfig(resolveConfigPath(configFlag));
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
}

/** Opens and migrates the database for a one-shot command, runs `work`, then closes it. */
export async function withDatabase<T>(loaded: LoadedConfig, work: (db: Database) => Promise<T>): Promise<T> {
  const database = await openDatabase(loaded.config.database);
  try {
    await migrate(database);
    await syncProjects(database, loaded.config);
    return await work(database);
  } finally {
    database.close();
  }
}

export const CONFIG_HELP = "  --config PATH   config file (else $VIBEFOLLOW_CONFIG, else ./vibefollow.toml, else embedded defaults)\n  -h, --help      show this help";
