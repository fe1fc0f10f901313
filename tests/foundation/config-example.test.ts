import { expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import type { z } from "zod";
import { parseConfigText } from "../../src/config/load";
import { configSchema } from "../../src/config/schema";
import { RULE_KINDS } from "../../src/rules/schema";
import { ROOT, runCli } from "./support";

// Real processes on a shared machine: the same allowance as `npm test` (--timeout 60000) when run directly.
setDefaultTimeout(60_000);

/** config.example.toml must load, and must mention every key the schema knows (so it keeps up as keys are added). */
const file = join(ROOT, "config.example.toml");
const text = readFileSync(file, "utf8");
const ENV = { SMTP_PASSWORD: "pw", OPENAI_API_KEY: "sk-test", VF_WEBHOOK_SECRET: "0123456789abcdef-secret" };

test("config.example.toml loads (with the env vars it references set)", () => {
  const config = parseConfigText(text, file, ENV);
  expect(config.projects.map((p) => p.id)).toEqual(["acme"]);
  expect(config.smtp?.url).toBe("smtps://mailer:pw@smtp.example.com:465");
  expect(config.projects[0]!.webhooks[0]!.secret).toBe(ENV.VF_WEBHOOK_SECRET);
  expect(config.drafting?.api_key).toBe("sk-test");
});

test("check-config accepts it, and names each env var it needs when unset", async () => {
  const ok = await runCli(["check-config", "--config", file], { env: ENV });
  expect(ok.code).toBe(0);
  const missing = await runCli(["check-config", "--config", file]);
  expect(missing.code).toBe(2);
  for (const name of Object.keys(ENV)) expect(missing.stderr).toContain(`expected environment variable ${name} to be set`);
});

test("it shows a rule of each of the 8 kinds", () => {
  const raw = parseToml(text) as { projects: { rules: { kind: string }[] }[] };
  expect(new Set(raw.projects[0]!.rules.map((r) => r.kind))).toEqual(new Set(RULE_KINDS));
});

/** Every key name anywhere in a zod schema (objects, through optional/default/pipe/union/array/record). */
function schemaKeys(schema: z.ZodType, path: string, out: Map<string, string>, seen = new Set<unknown>()): void {
  if (seen.has(schema)) return;
  seen.add(schema);
  const def = (schema as any)._zod.def;
  const walk = (s: unknown, p = path) => s && schemaKeys(s as z.ZodType, p, out, seen);
  switch (def.type) {
    case "object":
      for (const [key, value] of Object.entries(def.shape)) {
        const p = path ? `${path}.${key}` : key;
        if (!out.has(key)) out.set(key, p);
        walk(value, p);
      }
      break;
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "catch":
    case "readonly":
    case "nonoptional":
      walk(def.innerType);
      break;
    case "pipe":
      walk(def.in);
      walk(def.out);
      break;
    case "array":
      walk(def.element, `${path}[]`);
      break;
    case "record":
      walk(def.valueType, `${path}.*`);
      break;
    case "union":
      for (const o of def.options) walk(o);
      break;
    case "intersection":
      walk(def.left);
      walk(def.right);
      break;
    case "lazy":
      walk(def.getter());
      break;
  }
}

test("every key of the config schema is mentioned in config.example.toml", () => {
  const keys = new Map<string, string>();
  schemaKeys(configSchema, "", keys);
  expect(keys.size).toBeGreaterThan(50);
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  // Mentioned = written as a key (`name =`, also inside inline tables or comments) or as a table header.
  const missing = [...keys].filter(([key, where]) => {
    const k = escape(key);
    if (new RegExp(`(^|[\\s{,#])${k}\\s*=|\\[\\[?([a-z_]+\\.)*${k}\\]`, "m").test(text)) return false;
    // Operator names of `where` conditions may instead be listed in the comment that documents them.
    return !(/where/.test(where) && new RegExp(`#.*operators.*\\b${k}\\b`).test(text));
  });
  expect(missing.map(([key, where]) => `${key} (at ${where})`)).toEqual([]);
});
