import { existsSync, readFileSync } from "node:fs";
import { parse as parseToml, TomlError } from "smol-toml";
import type { z } from "zod";
import { checkAudienceReferences } from "../audiences/references";
import { checkTemplates } from "../drafts/render";
import { configSchema, projectSchema, type Config } from "./schema";

/** One problem with the config: where, what was expected, what was found. */
export type ConfigProblem = { path: string; expected: string; found: string };

export class ConfigError extends Error {
  constructor(readonly file: string | undefined, readonly problems: ConfigProblem[]) {
    super(formatProblems(file, problems));
  }
}

export function formatProblems(file: string | undefined, problems: ConfigProblem[]): string {
  const head = `${file ?? "configuration"}: ${problems.length} problem${problems.length === 1 ? "" : "s"}`;
  return [head, ...problems.map((p) => `  ${p.path || "(top level)"}: expected ${p.expected}, found ${p.found}`)].join("\n");
}

/** Where the config comes from: `--config PATH`, else `VIBEFOLLOW_CONFIG`, else `./vibefollow.toml` if present. */
export function resolveConfigPath(flag: string | undefined, env = process.env): string | undefined {
  if (flag) return flag;
  if (env.VIBEFOLLOW_CONFIG) return env.VIBEFOLLOW_CONFIG;
  return existsSync("vibefollow.toml") ? "vibefollow.toml" : undefined;
}

export type LoadedConfig = { config: Config; file: string | undefined; embeddedDefaults: boolean };

/**
 * Environment variables that override single keys, for containers and service managers (env beats file, a
 * CLI flag beats env). The Docker image sets the first two.
 */
export const ENV_OVERRIDES = {
  VIBEFOLLOW_LISTEN: ["server", "listen"],
  VIBEFOLLOW_DATABASE_URL: ["database", "url"],
  VIBEFOLLOW_PUBLIC_URL: ["server", "public_url"],
} as const;

/** Reads, interpolates and validates the config; throws `ConfigError` listing every problem at once. */
export function loadConfig(path: string | undefined, env = process.env): LoadedConfig {
  if (path === undefined) return { config: parseWithOverrides({}, undefined, env), file: undefined, embeddedDefaults: true };
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const found = err.code === "ENOENT" ? "no file at that path" : err.code === "EISDIR" ? "a directory" : err.message;
    throw new ConfigError(path, [{ path: "", expected: "a readable TOML file", found }]);
  }
  return { config: parseWithOverrides(parseTomlText(text, path), path, env), file: path, embeddedDefaults: false };
}

/** `parseConfig` of the tree with the environment's overrides set; a problem in an overridden value names its
 * variable, since the file (which may hold a valid value there) is not where it came from. */
function parseWithOverrides(tree: unknown, path: string | undefined, env: NodeJS.ProcessEnv): Config {
  try {
    return parseConfig(applyEnvOverrides(tree, env), path, env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const setBy = new Map(Object.entries(ENV_OVERRIDES).filter(([name]) => env[name]).map(([name, [section, key]]) => [`${section}.${key}`, name]));
    const problems = e.problems.map((p) => (setBy.has(p.path) ? { ...p, found: `${p.found} (from ${setBy.get(p.path)})` } : p));
    throw new ConfigError(e.file, problems);
  }
}

export function parseConfigText(text: string, file?: string, env = process.env): Config {
  return parseConfig(parseTomlText(text, file), file, env);
}

function parseTomlText(text: string, file: string | undefined): unknown {
  try {
    return parseToml(text);
  } catch (e) {
    const where = e instanceof TomlError ? `line ${e.line}, column ${e.column}` : "";
    throw new ConfigError(file, [{ path: where, expected: "valid TOML", found: (e as Error).message.split("\n")[0]! }]);
  }
}

/** Sets the keys of `ENV_OVERRIDES` whose variable is set and non-empty (validated like the file's own). */
export function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const tree = raw as Record<string, unknown>;
  for (const [name, [section, key]] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (!value) continue;
    const current = tree[section];
    const table = current !== null && typeof current === "object" && !Array.isArray(current) ? (current as Record<string, unknown>) : {};
    tree[section] = { ...table, [key]: value };
  }
  return tree;
}

/** Validates an already-parsed config tree. With no `[[projects]]`, one project `default` is used. */
export function parseConfig(raw: unknown, file?: string, env = process.env): Config {
  const problems: ConfigProblem[] = [];
  const interpolated = interpolateEnv(raw, [], env, problems);
  // A value whose variable is unset is reported once, as that: not again for what it became ("").
  const unset = new Set(problems.map((p) => p.path));
  const result = configSchema.safeParse(interpolated);
  if (!result.success) problems.push(...result.error.issues.flatMap((i) => describeIssue(i, interpolated)).filter((p) => !unset.has(p.path)));
  // Read from the tree as written, so they are reported beside the other problems, not only once those are fixed.
  problems.push(...duplicateIds(interpolated), ...checkAudienceReferences(interpolated), ...checkTemplates(interpolated));
  dedupe(problems);
  if (problems.length > 0 || !result.success) throw new ConfigError(file, problems);
  const config = result.data;
  if (config.projects.length === 0) config.projects.push(projectSchema.parse({ id: "default", name: "Default" }));
  return config;
}

/** Project ids used twice, and rule or audience ids used twice in a project. (Rule/audience cross-references
 * are checked where those are resolved, `rules/resolve.ts`, since defaults take part in them.) */
function duplicateIds(tree: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const ids = (list: unknown, where: string, expected: string) => {
    const seen = new Set<string>();
    listOf(list).forEach((item, i) => {
      const id = (item as { id?: unknown } | null)?.id;
      if (typeof id !== "string") return;
      if (seen.has(id)) problems.push({ path: `${where}[${i}].id`, expected, found: JSON.stringify(id) });
      seen.add(id);
    });
  };
  const projects = listOf((tree as { projects?: unknown } | null)?.projects);
  ids(projects, "projects", "a project id used once");
  projects.forEach((p, i) => {
    ids((p as { rules?: unknown } | null)?.rules, `projects[${i}].rules`, "a rule id used once per project");
    ids((p as { audiences?: unknown } | null)?.audiences, `projects[${i}].audiences`, "an audience id used once per project");
  });
  return problems;
}

const listOf = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

function dedupe(problems: ConfigProblem[]): void {
  const seen = new Set<string>();
  for (let i = problems.length - 1; i >= 0; i--) {
    const key = `${problems[i]!.path}\0${problems[i]!.expected}`;
    if (seen.has(key)) problems.splice(i, 1);
    seen.add(key);
  }
}

/** Replaces `${NAME}` in every string with the environment variable; a missing variable is a problem. */
function interpolateEnv(value: unknown, path: (string | number)[], env: NodeJS.ProcessEnv, problems: ConfigProblem[]): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) {
        problems.push({ path: formatPath(path), expected: `environment variable ${name} to be set`, found: "it unset" });
        return "";
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, [...path, i], env, problems));
  if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateEnv(v, [...path, k], env, problems);
    return out;
  }
  return value;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: any = root;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = v[p as any];
  }
  return v;
}

/**
 * A URL's password (`smtps://user:secret@…`) and libSQL `authToken` as `***`: a config error is printed and logged.
 * The password runs from the first ":" after "://" to the last "@" — a user name may be an address (`me@x.io`) and a
 * password that is not percent-encoded may hold "@", "/", "#" or a space (the very mistake that makes the URL an error).
 */
export function redactSecrets(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:\s]*?):.*@/i, "$1:***@").replace(/([?&]authToken=)[^&#\s]*/gi, "$1***");
}

function describeFound(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value instanceof Date) return `a date ${value.toISOString()}`;
  const json = JSON.stringify(typeof value === "string" ? redactSecrets(value) : value);
  const shown = json.length > 60 ? json.slice(0, 57) + "..." : json;
  if (Array.isArray(value)) return `an array ${shown}`;
  if (value !== null && typeof value === "object") return `a table ${shown}`;
  return `${typeof value} ${shown}`;
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown): ConfigProblem | ConfigProblem[] {
  if (issue.code === "unrecognized_keys") {
    // One problem per key, at the key's own path (`projects[0].rules[2].delai`), like every other problem.
    const parent = formatPath(issue.path);
    return issue.keys.map((key) => ({
      path: formatPath([...issue.path, key]),
      expected: parent ? `a known key of ${parent}` : "a known top-level key",
      found: `unknown key ${JSON.stringify(key)}`,
    }));
  }
  const found = valueAt(root, issue.path);
  let expected = issue.message;
  if (issue.code === "invalid_type") expected = /^Invalid input/.test(issue.message) ? `${issue.expected}` : issue.message;
  if (issue.code === "invalid_type" && found === undefined) expected = `${expected} (a required key)`;
  if (issue.code === "invalid_value" && /^Invalid/.test(issue.message)) expected = `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  if (issue.code === "invalid_union" && /^Invalid/.test(issue.message)) expected = "one of the allowed forms";
  // "at least 1 item", "at most 200 characters"
  const unit = (origin: string, n: number | bigint) =>
    origin === "string" ? ` character${n === 1 ? "" : "s"}` : origin === "array" ? ` item${n === 1 ? "" : "s"}` : "";
  if (issue.code === "too_small" && /^Too small/.test(issue.message)) expected = `${issue.inclusive === false ? "more than" : "at least"} ${issue.minimum}${unit(issue.origin, issue.minimum)}`;
  if (issue.code === "too_big" && /^Too big/.test(issue.message)) expected = `${issue.inclusive === false ? "less than" : "at most"} ${issue.maximum}${unit(issue.origin, issue.maximum)}`;
  if (issue.code === "invalid_type" && issue.expected === "int") expected = "a whole number";
  return { path: formatPath(issue.path), expected, found: describeFound(found) };
}
