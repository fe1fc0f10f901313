import { TomlDate } from "smol-toml";
import { STAGES } from "../db/schema/pipeline";
import { toSnakeCase } from "../lib/case";
import { parseDuration } from "../lib/durations";
import { OPERATORS, OPERATORS_BY_TYPE, USER_FIELDS, type Check, type FieldRef, type FieldType, type Filter, type Operator, type Scalar, type UserField } from "./filter";

/** A problem found while reading a filter: `path` is relative to the filter's root. */
export type FilterIssue = { path: (string | number)[]; message: string };

type Scope = "user" | "properties";
type Ctx = { scope: Scope; issues: FilterIssue[] };

const MAX_DEPTH = 12;
const MAX_EVENT_NAME = 200;
const KIND_KEYS = ["field", "performed", "not_performed", "all", "any", "not"] as const;
const EVENT_KEYS = ["where", "at_least", "at_most", "within"];
const FIELD_LIST = `${Object.keys(USER_FIELDS).join(", ")} or "traits.<key>"`;
const DURATION = 'a duration like "90s", "15m", "2h", "3d" or "1w"';
const ISO_TIME = 'an ISO 8601 time like "2026-01-31" or "2026-01-31T09:00:00Z"';
const ISO_PATTERN = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * Reads a filter tree as written in the config (TOML or JSON) into a `Filter`, collecting every problem with
 * its path. Returns `undefined` when there was any problem.
 *
 * @example parseFilter({ performed: "feature_used", at_least: 10, within: "7d" }, issues)
 */
export function parseFilter(raw: unknown, issues: FilterIssue[]): Filter | undefined {
  const before = issues.length;
  const filter = parseNode(raw, [], 0, { scope: "user", issues });
  return issues.length === before ? filter : undefined;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
}

function parseNode(raw: unknown, path: (string | number)[], depth: number, ctx: Ctx): Filter | undefined {
  const issue = (message: string, at: (string | number)[] = path) => void ctx.issues.push({ path: at, message });
  const what = ctx.scope === "user" ? "a filter" : "a property condition";
  if (!isTable(raw)) return issue(`${what}: a table like { field = "plan", eq = "pro" }${ctx.scope === "user" ? ', { performed = "…" }' : ""} or a group { all = [...] } / { any = [...] } / { not = {...} }`);
  if (depth > MAX_DEPTH) return issue(`filters nested at most ${MAX_DEPTH} levels deep`);
  const allowedKinds = ctx.scope === "user" ? KIND_KEYS : KIND_KEYS.filter((k) => k !== "performed" && k !== "not_performed");
  const kinds = allowedKinds.filter((k) => k in raw);
  if (ctx.scope === "properties" && ("performed" in raw || "not_performed" in raw)) {
    const key = "performed" in raw ? "performed" : "not_performed";
    return issue("a property condition ({ field = …, <operator> = … }); event conditions cannot nest inside `where`", [...path, key]);
  }
  if (kinds.length === 0) {
    // `{ plan = "pro" }`, `{ mrr = { gt = 0 } }`, `where = { feature = "export" }`: the form a custom rule's `where`
    // takes (src/rules/where.ts), taken here too — keys name fields, each value is what it equals, a list it is
    // in, or a table of operators; several keys mean all of them.
    if (Object.keys(raw).length > 0) return parseShorthand(raw, path, ctx);
    return issue(`one of the keys ${allowedKinds.join(", ")}`);
  }
  if (kinds.length > 1) return issue(`only one of ${kinds.join(", ")} in the same table (combine them with all = [...])`, [...path, kinds[1]!]);
  const kind = kinds[0]!;
  if (kind === "all" || kind === "any" || kind === "not") {
    for (const key of Object.keys(raw)) if (key !== kind) issue(`nothing beside "${kind}" (put conditions inside the group)`, [...path, key]);
    if (kind === "not") {
      const inner = parseNode(raw.not, [...path, "not"], depth + 1, ctx);
      return inner && { type: "not", filter: inner };
    }
    const list = raw[kind];
    if (!Array.isArray(list) || list.length === 0) return issue(`a non-empty array of ${ctx.scope === "user" ? "filters" : "property conditions"}`, [...path, kind]);
    const filters = list.map((item, i) => parseNode(item, [...path, kind, i], depth + 1, ctx));
    return filters.every((f) => f !== undefined) ? { type: kind, filters: filters as Filter[] } : undefined;
  }
  if (kind === "field") return parseFieldCondition(raw, path, ctx);
  return parseEventCondition(raw, kind, path, depth, ctx);
}

function resolveField(name: unknown, scope: Scope): { field: string; ref: FieldRef } | string {
  // The normaliser snake_cases only top-level keys; nested keys are stored as sent (often data, not names).
  // So only the first segment may be spelled either way; the rest must match the stored key.
  const segmentsOf = (s: string) => s.split(".").map((p, i) => (i === 0 ? toSnakeCase(p.trim()) : p.trim()));
  const validSegments = (segs: string[]) => segs.length > 0 && segs.every((s) => s.length > 0 && !/["\\]/.test(s));
  if (scope === "properties") {
    const expected = 'an event property name like "feature" or "workspace_id"';
    if (typeof name !== "string" || name.length === 0) return expected;
    const path = segmentsOf(name);
    return validSegments(path) ? { field: path.join("."), ref: { source: "properties", path, type: "json" } } : expected;
  }
  const expected = `a user field: ${FIELD_LIST}`;
  if (typeof name !== "string") return expected;
  if (/^traits\./i.test(name)) {
    const path = segmentsOf(name.slice("traits.".length));
    return validSegments(path) ? { field: `traits.${path.join(".")}`, ref: { source: "traits", path, type: "json" } } : expected;
  }
  const column = toSnakeCase(name);
  if (!(column in USER_FIELDS)) return expected;
  const type = USER_FIELDS[column as UserField];
  return { field: column, ref: { source: "column", column: column as UserField, type } };
}

/** `{ plan = "pro", mrr = { gt = 0 } }`: each key a field, its value `eq` (a scalar), `in` (a list) or operators. */
function parseShorthand(raw: Record<string, unknown>, path: (string | number)[], ctx: Ctx): Filter | undefined {
  const before = ctx.issues.length;
  const filters: Filter[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const at = [...path, key];
    const resolved = resolveField(key, ctx.scope);
    if (typeof resolved === "string") {
      ctx.issues.push({ path: at, message: `${resolved} (or a condition { field = …, <operator> = … }, a group all/any/not${ctx.scope === "user" ? ", or performed/not_performed" : ""})` });
      continue;
    }
    const ops: Op[] = isTable(value) ? Object.entries(value).map(([op, v]) => [op, v, [...at, op]]) : [[Array.isArray(value) ? "in" : "eq", value, at]];
    const filter = fieldCondition(resolved, ops, at, ctx);
    if (filter) filters.push(filter);
  }
  if (ctx.issues.length > before) return undefined;
  return filters.length === 1 ? filters[0] : { type: "all", filters };
}

function parseFieldCondition(raw: Record<string, unknown>, path: (string | number)[], ctx: Ctx): Filter | undefined {
  const resolved = resolveField(raw.field, ctx.scope);
  if (typeof resolved === "string") {
    ctx.issues.push({ path: [...path, "field"], message: resolved });
    return undefined;
  }
  // `{ field = "plan", op = "eq", value = "pro" }` is the same condition as `{ field = "plan", eq = "pro" }`.
  if (typeof raw.op === "string" && "value" in raw && Object.keys(raw).length === 3) return fieldCondition(resolved, [[raw.op, raw.value, [...path, "op"]]], path, ctx);
  return fieldCondition(resolved, Object.entries(raw).filter(([key]) => key !== "field").map(([op, v]) => [op, v, [...path, op]]), path, ctx);
}

/** An operator, its value, and where a problem with it is reported. */
type Op = [op: string, value: unknown, at: (string | number)[]];

/** A field's condition from its operators (a problem with none at all is reported at `path`). */
function fieldCondition(resolved: { field: string; ref: FieldRef }, ops: Op[], path: (string | number)[], ctx: Ctx): Filter | undefined {
  const before = ctx.issues.length;
  const { field, ref } = resolved;
  const allowed = OPERATORS_BY_TYPE[ref.type];
  const describe = ref.type === "json" ? `"${field}"` : `${ref.type} field "${field}"`;
  const checks: Check[] = [];
  for (const [key, value, at] of ops) {
    if (!allowed.includes(key as Operator)) {
      const known = (OPERATORS as readonly string[]).includes(key);
      const message = known
        ? `an operator that fits ${describe} (${allowed.join(", ")}); "${key}" does not`
        : `an operator for ${describe}: one of ${allowed.join(", ")}`;
      ctx.issues.push({ path: at, message });
      continue;
    }
    const check = parseCheck(key as Operator, value, ref.type, field);
    if (typeof check === "string") ctx.issues.push({ path: at, message: check });
    else checks.push(check);
  }
  if (ctx.issues.length > before) return undefined;
  if (checks.length === 0) {
    ctx.issues.push({ path, message: `an operator beside field = "${field}": one of ${allowed.join(", ")}` });
    return undefined;
  }
  return { type: "field", field, ref, checks };
}

function isScalar(v: unknown, type: FieldType): v is Scalar {
  if (type === "text") return typeof v === "string";
  if (type === "number") return typeof v === "number" && Number.isFinite(v);
  return typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
}

const SCALAR_NAME: Record<FieldType, string> = { text: "a string", number: "a number", time: "a time", json: "a string, number or boolean" };

/** Validates one operator's value for a field of `type`; returns the check, or what was expected. */
function parseCheck(op: Operator, value: unknown, type: FieldType, field: string): Check | string {
  const isStage = field === "stage";
  const stageOk = (v: unknown) => !isStage || (STAGES as readonly unknown[]).includes(v);
  const stageList = `one of ${STAGES.map((s) => JSON.stringify(s)).join(", ")}`;
  switch (op) {
    case "eq":
    case "neq":
      if (!isScalar(value, type) || !stageOk(value)) return isStage ? stageList : SCALAR_NAME[type];
      return { op, value };
    case "in":
    case "not_in":
      if (!Array.isArray(value) || value.length === 0 || value.length > 1000 || !value.every((v) => isScalar(v, type) && stageOk(v))) {
        return `a non-empty array (at most 1000) of ${isStage ? stageList : SCALAR_NAME[type].replace(/^an? /, "") + " values"}`;
      }
      return { op, values: value as Scalar[] };
    case "contains":
    case "starts_with":
    case "ends_with":
      if (typeof value !== "string" || value.length === 0) return "a non-empty string";
      return { op, value };
    case "exists":
      if (typeof value !== "boolean") return "true or false";
      return { op, value };
    case "gt":
    case "gte":
    case "lt":
    case "lte":
      if (typeof value !== "number" || !Number.isFinite(value)) return "a number";
      return { op, value };
    case "before":
    case "after": {
      const at = parseInstant(value);
      if (at === undefined) return ISO_TIME;
      return { op, at };
    }
    case "older_than":
    case "newer_than": {
      const ms = typeof value === "string" ? parseDuration(value) : undefined;
      if (ms === undefined) return DURATION;
      return { op, ms };
    }
  }
}

/** A TOML date/time or an ISO 8601 string → UTC ms. A time without an offset is taken as UTC. */
export function parseInstant(value: unknown): number | undefined {
  // A TOML local time (`10:00:00`) has no date: it is no instant (smol-toml's TomlDate would read it as year 0).
  if (value instanceof TomlDate && value.isTime()) return undefined;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (typeof value !== "string" || !ISO_PATTERN.test(value)) return undefined;
  let text = value.replace(" ", "T");
  if (/T/i.test(text) && !/(Z|[+-]\d{2}:?\d{2})$/i.test(text)) text += "Z";
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

function parseEventCondition(raw: Record<string, unknown>, kind: "performed" | "not_performed", path: (string | number)[], depth: number, ctx: Ctx): Filter | undefined {
  const before = ctx.issues.length;
  const issue = (key: string, message: string) => void ctx.issues.push({ path: [...path, key], message });
  const name = raw[kind];
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_EVENT_NAME) issue(kind, `an event name (1–${MAX_EVENT_NAME} characters)`);
  for (const key of Object.keys(raw)) {
    if (key !== kind && !EVENT_KEYS.includes(key)) issue(key, `a key of an event condition: ${[kind, ...EVENT_KEYS].join(", ")}`);
  }
  const count = (key: string): number | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 1_000_000) issue(key, "a whole number from 0 to 1000000");
    else return v;
    return undefined;
  };
  const atLeast = count("at_least");
  const atMost = count("at_most");
  if (atLeast !== undefined && atMost !== undefined && atMost < atLeast) issue("at_most", `a number not below at_least (${atLeast})`);
  let withinMs: number | undefined;
  if (raw.within !== undefined) {
    withinMs = typeof raw.within === "string" ? parseDuration(raw.within) : undefined;
    // "0s" is a duration, but a window of no time holds no events: refused, and said why (not "expected a duration").
    if (withinMs === undefined) issue("within", DURATION);
    else if (withinMs === 0) issue("within", `${DURATION}, longer than 0 (a window of no time holds no events)`);
  }
  let where: Filter | undefined;
  if (raw.where !== undefined) {
    const whereCtx: Ctx = { scope: "properties", issues: ctx.issues };
    // An array is the common case "all of these", so it needs no `all = ` wrapper.
    where = Array.isArray(raw.where)
      ? parseWhereList(raw.where, [...path, "where"], depth + 1, whereCtx)
      : parseNode(raw.where, [...path, "where"], depth + 1, whereCtx);
  }
  if (ctx.issues.length > before) return undefined;
  // Unwritten, at_least is 1 ("performed") — but 0 beside `at_most = 0`, which alone means "never performed" (a
  // default of 1 would make it match no one).
  return { type: "event", name: name as string, negate: kind === "not_performed", where, atLeast: atLeast ?? (atMost === 0 ? 0 : 1), atMost, withinMs };
}

function parseWhereList(list: unknown[], path: (string | number)[], depth: number, ctx: Ctx): Filter | undefined {
  if (list.length === 0) {
    ctx.issues.push({ path, message: "a non-empty array of property conditions" });
    return undefined;
  }
  const filters = list.map((item, i) => parseNode(item, [...path, i], depth, ctx));
  if (!filters.every((f) => f !== undefined)) return undefined;
  return filters.length === 1 ? filters[0] : { type: "all", filters: filters as Filter[] };
}
