import { z } from "zod";
import { isPlainObject } from "../ingest/rules";
import { toSnakeCase } from "../lib/case";
import { sql, type Fragment } from "./sql";

/**
 * Property conditions of a custom rule (`where`, `unless_where`): `{ plan = "pro" }` (equality) or
 * `{ amount = { gte = 100 }, source = { in = ["ads", "seo"] } }`. Keys may be camelCase or snake_case;
 * properties are stored snake_case (SPEC §3), so keys are matched in that spelling.
 */
const scalar = z.union([z.string(), z.number(), z.boolean()]);
const OPERATORS = ["eq", "neq", "in", "not_in", "contains", "starts_with", "ends_with", "exists", "gt", "gte", "lt", "lte"] as const;
type Operator = (typeof OPERATORS)[number];

const operatorSchema = z
  .strictObject({
    eq: scalar.optional(),
    neq: scalar.optional(),
    in: z.array(scalar).min(1).optional(),
    not_in: z.array(scalar).min(1).optional(),
    contains: z.string().optional(),
    starts_with: z.string().optional(),
    ends_with: z.string().optional(),
    exists: z.boolean().optional(),
    gt: z.number().optional(),
    gte: z.number().optional(),
    lt: z.number().optional(),
    lte: z.number().optional(),
  })
  .refine((o) => Object.keys(o).length > 0, { error: `at least one operator: ${OPERATORS.join(", ")}` });

/** The audience filter's spelling (`{ field = "plan", eq = "pro" }`, `{ all = [...] }`) would silently mean
 * "property `field` equals …" here, so what `fromAudienceForm` cannot turn into this form is refused. */
function looksLikeAudienceFilter(o: Record<string, unknown>): boolean {
  const keys = Object.keys(o);
  if (keys.some((k) => ["all", "any", "not"].includes(k) && typeof o[k] === "object")) return true;
  // `{ field = "plan", ne = "free" }`: an operator mistyped (or one only audiences have, older_than) would otherwise
  // read as conditions on properties named "field" and "ne" that never match. A property named `field` must stand alone.
  return typeof o.field === "string" && keys.length > 1;
}

/**
 * The audience form of the same conditions (docs/audiences.md), as far as this form can say it — all of them:
 * `{ field = "plan", eq = "pro" }` → `{ plan = { eq = "pro" } }`, `{ field, op, value }` likewise, and
 * `{ all = [...] }` or a list → their conditions merged. `any` and `not` cannot be said here: left as written, refused.
 */
function fromAudienceForm(raw: unknown): unknown {
  const list = Array.isArray(raw) ? raw : isPlainObject(raw) && Object.keys(raw).length === 1 && Array.isArray(raw.all) ? raw.all : undefined;
  if (list) {
    const merged: Record<string, Record<string, unknown>> = {};
    for (const item of list.map(fromAudienceForm)) {
      if (!isPlainObject(item) || looksLikeAudienceFilter(item)) return raw;
      for (const [key, cond] of Object.entries(item)) {
        const ops = isPlainObject(cond) ? cond : { eq: cond };
        if (Object.keys(ops).some((op) => merged[key] && op in merged[key])) return raw; // the same operator twice
        merged[key] = { ...merged[key], ...ops };
      }
    }
    return merged;
  }
  if (!isPlainObject(raw) || typeof raw.field !== "string") return raw;
  const { field, op, value, ...ops } = raw;
  // `value` must be there: `{ [op]: undefined }` would pass as an operator and compile to nothing.
  if (typeof op === "string" && value !== undefined && Object.keys(ops).length === 0) return { [field as string]: { [op]: value } };
  const isOps = op === undefined && value === undefined && Object.keys(ops).length > 0 && Object.keys(ops).every((k) => (OPERATORS as readonly string[]).includes(k));
  return isOps ? { [field as string]: ops } : raw; // `{ field = "plan" }` alone: a property named "field"
}

export const whereSchema = z.preprocess(
  fromAudienceForm,
  z
    .unknown()
    .refine((o) => !(isPlainObject(o) && looksLikeAudienceFilter(o)), {
      error: `property conditions written { key = value } or { key = { gte = 2 } }, or { field = …, <operator> = … } with an operator of ${OPERATORS.join(", ")}, and all = [...] of them (any and not have no form here)`,
      abort: true,
    })
    .pipe(z.record(z.string().min(1), z.union([scalar, operatorSchema]))),
);
export type Where = z.output<typeof whereSchema>;

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => "\\" + c);
}

/** Compiles `where` against the JSON column `column` (e.g. `e.properties`) into one SQL condition. */
export function compileWhere(column: string, where: Where | undefined): Fragment {
  if (!where || Object.keys(where).length === 0) return sql`1`;
  const parts: Fragment[] = [];
  for (const [rawKey, cond] of Object.entries(where)) {
    // `meta.source` is a path into nested properties, as in audience filters: the first key in its stored
    // snake_case spelling, nested keys as sent.
    const path = "$" + rawKey.split(".").map((key, i) => `."${(i === 0 ? toSnakeCase(key) : key).replace(/"/g, "")}"`).join("");
    const value = sql.raw(`json_extract(${column}, ?)`, [path]);
    // SQLite orders all text after all numbers (`"abc" >= 100` holds) and reads JSON true as 1, so comparisons
    // take JSON numbers only — as audience filters do.
    const isNumber = sql.raw(`json_type(${column}, ?) IN ('integer', 'real')`, [path]);
    // Equality with the JSON type: SQLite reads JSON true/false as 1/0, so `{ flag = true }` must not take 1.
    const equals = (v: string | number | boolean): Fragment =>
      typeof v === "boolean"
        ? sql.raw(`ifnull(json_type(${column}, ?) = '${v}', 0)`, [path])
        : typeof v === "number"
          ? sql`ifnull(${isNumber} AND ${value} = ${v}, 0)`
          : sql`ifnull(${value} = ${v}, 0)`;
    const ops: [Operator, unknown][] =
      typeof cond === "object" ? (Object.entries(cond).filter(([, v]) => v !== undefined) as [Operator, unknown][]) : [["eq", cond]];
    for (const [op, arg] of ops) parts.push(compileOperator(value, op, arg, isNumber, equals));
  }
  return sql.join(parts, " AND ");
}

function compileOperator(value: Fragment, op: Operator, arg: unknown, isNumber: Fragment, equals: (v: string | number | boolean) => Fragment): Fragment {
  const v = arg as string | number | boolean;
  switch (op) {
    case "eq":
      return equals(v);
    case "neq":
      // A missing value is "not equal".
      return sql`NOT ${equals(v)}`;
    case "in":
    case "not_in": {
      const any = sql`(${sql.join((arg as (string | number | boolean)[]).map(equals), " OR ")})`;
      return op === "in" ? any : sql`NOT ${any}`;
    }
    case "contains":
      return sql.raw(`${value.sql} LIKE ? ESCAPE '\\'`, [...value.args, `%${likeEscape(String(v))}%`]);
    case "starts_with":
      return sql.raw(`${value.sql} LIKE ? ESCAPE '\\'`, [...value.args, `${likeEscape(String(v))}%`]);
    case "ends_with":
      return sql.raw(`${value.sql} LIKE ? ESCAPE '\\'`, [...value.args, `%${likeEscape(String(v))}`]);
    case "exists":
      return v ? sql`${value} IS NOT NULL` : sql`${value} IS NULL`;
    case "gt":
      return sql`${isNumber} AND ${value} > ${v as number}`;
    case "gte":
      return sql`${isNumber} AND ${value} >= ${v as number}`;
    case "lt":
      return sql`${isNumber} AND ${value} < ${v as number}`;
    case "lte":
      return sql`${isNumber} AND ${value} <= ${v as number}`;
  }
}
