import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import type { z } from "zod";
import { parseConfig } from "../../src/config/load";
import { configSchema, type Config } from "../../src/config/schema";
import { resolveRules } from "../../src/rules/resolve";
import { ROOT } from "./support";

/**
 * SPEC §1: config.example.toml "documents every key with a comment and its default". Key by key: every key the
 * schema accepts has a comment in the example that says REQUIRED or states a default, and that default is the one
 * the server uses — the key set to the documented value loads to the same thing as the key left out.
 */
const text = readFileSync(join(ROOT, "config.example.toml"), "utf8");

/** A key as the schema knows it: `projects.rules.welcome.delay` (rules by kind), `projects.send_window.start`. */
type SchemaKey = { path: string[]; kind?: string };

function schemaKeys(schema: z.ZodType, path: string[], out: SchemaKey[], kind?: string): void {
  const def = (schema as any)._zod.def;
  switch (def.type) {
    case "object":
      for (const [key, value] of Object.entries(def.shape)) {
        if (key === "kind" && kind) continue; // the discriminator is documented with the rule's common keys
        out.push({ path: [...path, key], kind });
        schemaKeys(value as z.ZodType, [...path, key], out, kind);
      }
      break;
    case "optional":
    case "default":
    case "nullable":
      return schemaKeys(def.innerType, path, out, kind);
    case "pipe":
      schemaKeys(def.in, path, out, kind);
      return schemaKeys(def.out, path, out, kind);
    case "array":
      return schemaKeys(def.element, path, out, kind);
    case "union":
      for (const o of def.options) {
        let def = (o as any)._zod.def;
        while (def.type === "pipe") def = def.in._zod.def; // a rule kind with a transform (custom's `unless`)
        const literal = def.shape?.kind?._zod.def.values?.[0];
        schemaKeys(o, literal ? [...path, literal] : path, out, literal ?? kind);
      }
      break;
  }
}

/** Each documented key of the example: the comment lines right above it (key line or table header). */
function documentedKeys(): { docs: Map<string, string>; ruleKeys: Map<string, string> } {
  const docs = new Map<string, string>();
  let table = "";
  let kind = "";
  let comment: string[] = [];
  for (const line of text.split("\n")) {
    const header = /^\s*(?:# )?\[\[?([a-z_.]+)\]\]?\s*$/.exec(line);
    // A key line, or a commented-out example key ("# auth_token = ..."; one space after the #, a TOML value).
    const key = /^\s*(#\s)?([a-z_]+)\s*=\s*(.*)$/.exec(line);
    if (header) {
      table = header[1]!;
      kind = "";
      docs.set(table, comment.join(" "));
      comment = [];
    } else if (key && (!key[1] || isTomlValue(key[3]!))) {
      if (table === "projects.rules" && key[2] === "kind") kind = JSON.parse(key[3]!);
      const path = table === "projects.rules" ? `${table}.${kind}.${key[2]}` : table ? `${table}.${key[2]}` : key[2]!;
      if (!docs.has(path)) docs.set(path, comment.join(" "));
      comment = [];
    } else if (/^\s*#/.test(line)) comment.push(line.replace(/^\s*#\s?/, "").trim());
    else comment = [];
  }
  // The keys every rule has are documented once, as a list in a comment: "#   id   REQUIRED, ...".
  const ruleKeys = new Map<string, string>();
  const list = /Keys every rule has:\n((?:\s*#\s{3,}.*\n)+)/.exec(text)![1]!;
  let current = "";
  for (const line of list.split("\n")) {
    const m = /^\s*#\s{3}([a-z_]+)\s+(.*)$/.exec(line);
    if (m) ruleKeys.set((current = m[1]!), m[2]!);
    else if (current && line.trim()) ruleKeys.set(current, `${ruleKeys.get(current)} ${line.replace(/^\s*#\s*/, "")}`);
  }
  return { docs, ruleKeys };
}

function isTomlValue(value: string): boolean {
  try {
    parseToml(`v = ${value}`);
    return true;
  } catch {
    return false;
  }
}

/** The default a comment states: after "default" / "default:" / "Default", a TOML value or a phrase. */
function statedDefault(comment: string, subKey?: string): string | undefined {
  const at = subKey ? new RegExp(`\\b${subKey} default:? `).exec(comment) : /\b[Dd]efault:? /.exec(comment);
  if (!at) {
    // Inside an inline table's documented default: `Default { start = "09:00", end = "18:00", ... }`.
    const table = /[Dd]efault\b.*?(\{[^{}]*\})/.exec(comment)?.[1];
    if (subKey && table && isTomlValue(table)) {
      const value = (parseToml(`v = ${table}`) as { v: Record<string, unknown> }).v[subKey];
      return value === undefined ? undefined : JSON.stringify(value);
    }
    return undefined;
  }
  // "Default: every day 09:00–18:00, that is { ... }": the value after "that is" is what is checked.
  const rest = comment.slice(at.index + at[0].length).replace(/^[^;]*?, that is /, "");
  if (rest.startsWith('"')) return /^"[^"]*"/.exec(rest)![0];
  if (rest.startsWith("{") || rest.startsWith("[")) {
    for (let end = 1; end <= rest.length; end++) if (isTomlValue(rest.slice(0, end))) return rest.slice(0, end);
  }
  // A phrase: up to the end of its sentence (a "." that ends one, not the one in "[smtp].from").
  return /^(?:[^.;(—]|\.(?=\S))*/.exec(rest)![0].trim().replace(/,$/, "");
}

/** Phrases a comment may state instead of a value, and what the loaded config then holds. */
const PHRASES: Record<string, (value: unknown, project: { id: string }) => boolean> = {
  none: (v) => v === undefined || (typeof v === "object" && v !== null && Object.keys(v).length === 0),
  everyone: (v) => v === undefined, // a rule's audience
  "no limit": (v) => v === undefined, // a rule's throttle
  "the project's": (v) => v === undefined, // a rule's autopilot / review_window: resolved against the project
  "the built-in template of the default rule": (v) => v === undefined,
  "the id": (v, p) => v === p.id, // a project's name
  "[projects.smtp].from, else [smtp].from, else \"<name>\" <vibefollow@localhost>": (v) => v === undefined, // resolved per message
};

/** The smallest config holding a key's table, and how to read the key back from the loaded config. */
function minimal(key: SchemaKey): { raw: any; read: (c: Config) => any; target: (raw: any) => any } {
  const [head, second] = key.path;
  const project: any = { id: "p" };
  const raw: any = { projects: [project] };
  if (head === "smtp") raw.smtp = { url: "smtp://mail.example.com:25" };
  if (head === "drafting") raw.drafting = { base_url: "http://127.0.0.1:1/v1", model: "m" };
  if (head !== "projects") return { raw, read: (c) => c, target: (r) => r };
  if (second === "smtp") project.smtp = { url: "smtp://mail.example.com:25" };
  if (second === "drafting") project.drafting = { base_url: "http://127.0.0.1:1/v1", model: "m" };
  if (second === "audiences") project.audiences = [{ id: "a", filter: { field: "plan", eq: "pro" } }];
  if (second === "webhooks") project.webhooks = [{ url: "https://example.com/hook", secret: "0123456789abcdef" }];
  const project0 = (c: Config) => c.projects[0]!;
  if (second === "audiences") return { raw, read: (c) => ({ projects: { audiences: project0(c).audiences[0] } }), target: (r) => ({ projects: { audiences: r.projects[0].audiences[0] } }) };
  if (second === "webhooks") return { raw, read: (c) => ({ projects: { webhooks: project0(c).webhooks[0] } }), target: (r) => ({ projects: { webhooks: r.projects[0].webhooks[0] } }) };
  if (second === "rules") {
    project.rules = [{ id: "r", kind: key.kind, ...(key.kind === "custom" ? { event: "e" } : {}) }];
    return {
      raw,
      read: (c) => ({ projects: { rules: { [key.kind!]: resolveRules(project0(c)).find((r) => r.id === "r") } } }),
      target: (r) => ({ projects: { rules: { [key.kind!]: r.projects[0].rules[0] } } }),
    };
  }
  return { raw, read: (c) => ({ projects: project0(c) }), target: (r) => ({ projects: r.projects[0] }) };
}

const get = (tree: any, path: string[]) => path.reduce((v, k) => (v === undefined || v === null ? undefined : v[k]), tree);
function set(tree: any, path: string[], value: unknown): void {
  const parent = path.slice(0, -1).reduce((v, k) => (v[k] ??= {}), tree);
  parent[path.at(-1)!] = value;
}

test("every key of the schema has a comment in config.example.toml stating REQUIRED or its default, and that default is the real one", () => {
  const keys: SchemaKey[] = [];
  schemaKeys(configSchema, [], keys);
  const { docs, ruleKeys } = documentedKeys();
  const problems: string[] = [];
  let checked = 0;
  // Condition operators and template parts are documented with their parent (config-example.test.ts checks the names).
  const leaves = keys.filter((k) => !k.path.slice(0, -1).some((p) => p === "where" || p === "unless_where" || p === "template"));
  // Tables (sections, [[projects]], inline tables like send_window) are documented through their keys.
  const isTable = (k: SchemaKey) => leaves.some((o) => o.path.length > k.path.length && k.path.every((p, i) => o.path[i] === p));
  for (const key of leaves.filter((k) => !isTable(k))) {
    const name = key.path.at(-1)!;
    const dotted = key.path.join(".");
    // A project's own [projects.smtp] / [projects.drafting] take the keys of [smtp] / [drafting] ("keys as [smtp]").
    const docPath = dotted.replace(/^projects\.(smtp|drafting)\./, "$1.");
    const isRuleKey = key.kind !== undefined && key.path.length === 4;
    const parentPath = key.path.slice(0, -1).join(".");
    // A key inside an inline table (send_window.start) is documented by its parent's comment.
    const inline = !docs.has(docPath) && !isRuleKey && docs.has(parentPath) && !/^(projects\.)?(smtp|drafting)$|^(server|database|evaluator|ingest|normaliser|tracking|projects)$|^projects\.(rules|audiences|webhooks)$/.test(parentPath);
    const comment = isRuleKey ? (docs.get(docPath) || ruleKeys.get(name)) : inline ? docs.get(parentPath) : docs.get(docPath);
    if (comment === undefined || comment === "") {
      problems.push(`${dotted}: no comment documents it`);
      continue;
    }
    if (/\bREQUIRED\b/.test(comment) && (!inline || new RegExp(`\\b${name}\\b[^.]*REQUIRED`).test(comment))) continue;
    const stated = statedDefault(comment, inline ? name : undefined);
    if (stated === undefined) {
      problems.push(`${dotted}: its comment states no default: "${comment}"`);
      continue;
    }
    const { raw, read, target } = minimal(key);
    const path = key.path;
    const effective = get(read(parseConfig(raw, undefined, {})), path);
    const phrase = Object.keys(PHRASES).find((p) => stated.startsWith(p));
    if (phrase) {
      if (!PHRASES[phrase]!(effective, { id: "p" })) problems.push(`${dotted}: documented default ${phrase}, the loaded config has ${JSON.stringify(effective)}`);
      checked++;
      continue;
    }
    if (!isTomlValue(stated)) {
      problems.push(`${dotted}: documented default ${stated} is neither a value nor a known phrase`);
      continue;
    }
    const written = structuredClone(raw);
    set(target(written), path, (parseToml(`v = ${stated}`) as { v: unknown }).v);
    let documented: unknown;
    try {
      documented = get(read(parseConfig(written, undefined, {})), path);
    } catch (e) {
      problems.push(`${dotted}: documented default ${stated} does not load: ${(e as Error).message}`);
      continue;
    }
    if (!Bun.deepEquals(documented, effective)) problems.push(`${dotted}: documented default ${stated} loads as ${JSON.stringify(documented)}, but leaving it out gives ${JSON.stringify(effective)}`);
    checked++;
  }
  expect(problems).toEqual([]);
  expect(checked).toBeGreaterThan(60);
});
