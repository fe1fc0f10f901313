import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ConfigError, loadConfig, resolveConfigPath, type LoadedConfig } from "../config/load";
import { filePathOf, openDatabase, type Database } from "../db/client";
import { isMigrated, migrate } from "../db/migrate";
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
  rejectExtra(parsed.positionals, maxPositionals);
  return parsed;
}

/**
 * The action (first word) of a command with actions: missing, unknown (`admin list`) and extra words are usage
 * errors, each said as what it is. `words` gives each action's number of words, its own name included.
 */
export function actionOf(command: string, positionals: string[], words: Record<string, number>): string {
  const [action] = positionals;
  const names = Object.keys(words);
  const choices = `${names.slice(0, -1).join(", ")} or ${names.at(-1)}`;
  if (action === undefined) throw new UsageError(`${command} needs an action: ${choices}`);
  if (!Object.hasOwn(words, action)) throw new UsageError(`unknown action "${action}" (${command} takes ${choices})`);
  rejectExtra(positionals, words[action]!);
  return action;
}

/** For commands whose actions take different numbers of words (`keys list` none, `keys revoke` one): each action
 * checks its own, so `keys create backend` is refused rather than creating a key named "unnamed". */
export function rejectExtra(positionals: string[], maxPositionals: number): void {
  const extra = positionals.slice(maxPositionals);
  if (extra.length > 0) throw new UsageError(`unexpected argument${extra.length > 1 ? "s" : ""}: ${extra.map((a) => JSON.stringify(a)).join(" ")}`);
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

/**
 * Opens the database for a one-shot command that writes (keys create, admin, a real evaluate…): migrates it and
 * mirrors the config's projects into it, runs `work`, then closes it. It may create the database only when a
 * config file (or VIBEFOLLOW_DATABASE_URL) names it: setting up keys and accounts before the first `serve` is a
 * normal first step, but not from a directory where no config was found.
 */
export async function withDatabase<T>(loaded: LoadedConfig, work: (db: Database) => Promise<T>): Promise<T> {
  const named = loaded.file !== undefined || Boolean(process.env.VIBEFOLLOW_DATABASE_URL);
  const database = named ? await openDatabase(loaded.config.database) : await openExisting(loaded);
  try {
    await migrate(database);
    await syncProjects(database, loaded.config);
    return await work(database);
  } finally {
    database.close();
  }
}

/**
 * Opens the database for a command that only reads (listings, show, backup, a dry run): it writes nothing — no
 * migration, no project sync — so it never needs the write lock (a server's long write does not make it fail
 * with SQLITE_BUSY) and a `--config other.toml` cannot rename the live database's projects. A schema behind this
 * version is refused rather than read wrongly; `backup` passes `anySchema`, since copying a database before an
 * upgrade migrates it is exactly what a backup is for.
 */
export async function withReadOnlyDatabase<T>(loaded: LoadedConfig, work: (db: Database) => Promise<T>, options: { anySchema?: boolean } = {}): Promise<T> {
  const database = await openExisting(loaded);
  try {
    if (!options.anySchema && !(await isMigrated(database))) {
      throw new Error(`the database ${databaseName(loaded)} is not migrated to this version: run \`vibefollow migrate\` (or start \`vibefollow serve\`) first`);
    }
    return await work(database);
  } finally {
    database.close();
  }
}

/**
 * Opens the configured database, refusing to create its file. A command run from the wrong directory (a cron
 * job) would otherwise find no config, fall back to the embedded defaults and "succeed" on a new, empty
 * ./data/vibefollow.db; and a command that only reads has nothing to read in a new one. A remote (libsql://…)
 * database has no file to check.
 */
async function openExisting(loaded: LoadedConfig): Promise<Database> {
  const file = filePathOf(loaded.config.database.url);
  if (file !== undefined && !existsSync(resolve(file))) {
    throw new Error(`no database at ${resolve(file)} (${databaseSource(loaded)}); point at your config with --config PATH or VIBEFOLLOW_CONFIG, or create the database with \`vibefollow migrate\``);
  }
  return openDatabase(loaded.config.database);
}

/** Where the database path came from, for the message above: the Docker image sets it by environment. */
function databaseSource(loaded: LoadedConfig): string {
  if (process.env.VIBEFOLLOW_DATABASE_URL) return "from VIBEFOLLOW_DATABASE_URL";
  return loaded.file === undefined ? "no config file found, so the embedded defaults were used" : `database.url of ${loaded.file}`;
}

function databaseName(loaded: LoadedConfig): string {
  const file = filePathOf(loaded.config.database.url);
  return file === undefined ? loaded.config.database.url.replace(/\/\/[^@/]*@/, "//") : resolve(file);
}

export const CONFIG_HELP = "  --config PATH   config file (else $VIBEFOLLOW_CONFIG, else ./vibefollow.toml, else embedded defaults)\n  -h, --help      show this help";
