import type { InValue } from "@libsql/client";
import type { Check, FieldRef, Filter, Scalar } from "./filter";

/** A piece of SQL with its bound parameters, in order. */
export type SqlFragment = { sql: string; args: InValue[] };

/**
 * Event conditions whose counts a whole-project recompute has precomputed (see `event-counts.ts`): node → temp
 * table `(user_id, n)` holding the count of matching events with `id <= maxEventId`. Users with a newer event
 * are listed in `temp.audience_fresh` and evaluated by the correlated subquery instead.
 */
export type EventCounts = { tables: ReadonlyMap<Filter, string> };

/**
 * Compiles a filter into ONE SQL boolean expression over `tracked_users u` — the only evaluator of audience
 * filters: the whole-project recompute and the touched-users refresh both run it, so they cannot disagree.
 * Event conditions become correlated EXISTS subqueries on `events e` that seek the
 * `events_user_name_time (user_id, name, occurred_at)` index. Every value — and `now`, for relative times and
 * windows — is a bound parameter. Every leaf yields 0 or 1, never NULL, so `not` is a true complement.
 *
 * With `counts` (a recompute), an event condition that has a `where` reads its precomputed count instead, for
 * users without events newer than the precompute: the same condition, counted in one sequential pass over the
 * events instead of one random row read per event per user.
 *
 * @example compileFilter({ type: "field", field: "plan", ref, checks: [{ op: "eq", value: "pro" }] }, now())
 *   // → { sql: "ifnull(u.\"plan\" = ?, 0)", args: ["pro"] }
 */
export function compileFilter(filter: Filter, now: number, counts?: EventCounts): SqlFragment {
  const args: InValue[] = [];
  const sql = compileNode(filter, { now, args, counts });
  return { sql, args };
}

type Ctx = { now: number; args: InValue[]; counts?: EventCounts };
type EventFilter = Extract<Filter, { type: "event" }>;

function compileNode(filter: Filter, ctx: Ctx): string {
  switch (filter.type) {
    case "all":
      return `(${filter.filters.map((f) => compileNode(f, ctx)).join(" AND ")})`;
    case "any":
      return `(${filter.filters.map((f) => compileNode(f, ctx)).join(" OR ")})`;
    case "not":
      return `(NOT ${compileNode(filter.filter, ctx)})`;
    case "field": {
      const parts = filter.checks.map((c) => compileCheck(filter.ref, c, ctx));
      return parts.length === 1 ? parts[0]! : `(${parts.join(" AND ")})`;
    }
    case "event": {
      const table = ctx.counts?.tables.get(filter);
      const holds = table === undefined ? compileEventHolds(filter, ctx) : compileCountedHolds(filter, table, ctx);
      return filter.negate ? `(NOT ${holds})` : holds;
    }
  }
}

/** The matching events of one user: name, window and property conditions. */
function eventMatch(filter: EventFilter, ctx: Ctx): string {
  let sql = "e.name = ?";
  ctx.args.push(filter.name);
  if (filter.withinMs !== undefined) {
    sql += " AND e.occurred_at > ?";
    ctx.args.push(ctx.now - filter.withinMs);
  }
  if (filter.where) sql += ` AND ${compileNode(filter.where, ctx)}`;
  return sql;
}

/** "count of matching events within [at_least, at_most]", correlated on u.id. */
function compileEventHolds(filter: EventFilter, ctx: Ctx): string {
  // Built once per use so its parameters land in the right order each time it appears.
  const base = () => `SELECT 1 FROM events e WHERE e.user_id = u.id AND ${eventMatch(filter, ctx)}`;
  const parts: string[] = [];
  // "the N-th matching event exists" stops at N rows instead of counting every event of the user.
  if (filter.atLeast > 0) parts.push(`EXISTS (${base()} LIMIT 1 OFFSET ${filter.atLeast - 1})`);
  if (filter.atMost !== undefined) parts.push(`NOT EXISTS (${base()} LIMIT 1 OFFSET ${filter.atMost})`);
  return parts.length === 0 ? "1" : parts.length === 1 ? parts[0]! : `(${parts.join(" AND ")})`;
}

function compileCountedHolds(filter: EventFilter, table: string, ctx: Ctx): string {
  const fresh = "EXISTS (SELECT 1 FROM temp.audience_fresh f WHERE f.user_id = u.id)";
  const correlated = compileEventHolds(filter, ctx);
  const count = `ifnull((SELECT c.n FROM temp."${table}" c WHERE c.user_id = u.id), 0)`;
  const counted = `${count} BETWEEN ${filter.atLeast} AND ${filter.atMost ?? Number.MAX_SAFE_INTEGER}`;
  return `(CASE WHEN ${fresh} THEN ${correlated} ELSE ${counted} END)`;
}

/**
 * `SELECT user_id, count(*)` of the events matching an event condition (ignoring its counts), for events with
 * `id <= ?` (bound last). It walks `events_project_name_time`, i.e. the condition's name and window in time
 * order — which is arrival order, so the rows it reads for `where` lie together on disk.
 */
export function compileEventCounts(filter: EventFilter, projectId: string, maxEventId: number, now: number): SqlFragment {
  const args: InValue[] = [projectId];
  const match = eventMatch(filter, { now, args });
  args.push(maxEventId);
  return {
    sql: `SELECT e.user_id, count(*) FROM events e INDEXED BY events_project_name_time WHERE e.project_id = ? AND ${match} AND e.id <= ? GROUP BY e.user_id`,
    args,
  };
}

function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** The SQL expression of a field's value. JSON paths are validated names, inlined as quoted literals. */
function valueExpr(ref: FieldRef): string {
  if (ref.source === "column") return `u."${ref.column}"`;
  return `json_extract(${jsonArgs(ref)})`;
}

/** `doc, path` of a JSON field (traits or event properties). */
function jsonArgs(ref: Extract<FieldRef, { source: "traits" | "properties" }>): string {
  const path = "$" + ref.path.map((p) => `."${p}"`).join("");
  return `${ref.source === "traits" ? "u.traits" : "e.properties"}, ${sqlString(path)}`;
}

/**
 * "The JSON value equals `value`", type and all: SQLite reads JSON true/false as 1/0, so without `json_type` a
 * trait `true` would equal 1 and a trait 1 would equal true. Text needs no guard (10 is not '10' in SQLite).
 */
function jsonEquals(ref: Extract<FieldRef, { source: "traits" | "properties" }>, value: Scalar, ctx: Ctx): string {
  const type = `json_type(${jsonArgs(ref)})`;
  if (typeof value === "boolean") return `ifnull(${type} = '${value}', 0)`;
  const equal = `${valueExpr(ref)} = ${bind(ctx, value)}`;
  return typeof value === "number" ? `ifnull(${type} IN ('integer', 'real') AND ${equal}, 0)` : `ifnull(${equal}, 0)`;
}

function bind(ctx: Ctx, value: Scalar): string {
  ctx.args.push(typeof value === "boolean" ? (value ? 1 : 0) : value);
  return "?";
}

function likePattern(op: "contains" | "starts_with" | "ends_with", value: string): string {
  const escaped = value.replace(/[\\%_]/g, (c) => `\\${c}`);
  return op === "contains" ? `%${escaped}%` : op === "starts_with" ? `${escaped}%` : `%${escaped}`;
}

const COMPARE = { gt: ">", gte: ">=", lt: "<", lte: "<=" } as const;

function compileCheck(ref: FieldRef, check: Check, ctx: Ctx): string {
  const x = valueExpr(ref);
  const json = ref.type === "json";
  if (ref.source !== "column") {
    // JSON values compare with their JSON type (a missing value is "not equal", as for columns).
    if (check.op === "eq") return jsonEquals(ref, check.value, ctx);
    if (check.op === "neq") return `NOT ${jsonEquals(ref, check.value, ctx)}`;
    if (check.op === "in" || check.op === "not_in") {
      const any = `(${check.values.map((v) => jsonEquals(ref, v, ctx)).join(" OR ")})`;
      return check.op === "in" ? any : `NOT ${any}`;
    }
  }
  switch (check.op) {
    case "eq":
      return `ifnull(${x} = ${bind(ctx, check.value)}, 0)`;
    case "neq":
      // A missing value is "not equal": users without a plan are not on "pro".
      return `(${x} IS NOT ${bind(ctx, check.value)})`;
    case "in":
      return `ifnull(${x} IN (${check.values.map((v) => bind(ctx, v)).join(", ")}), 0)`;
    case "not_in":
      return `ifnull(${x} NOT IN (${check.values.map((v) => bind(ctx, v)).join(", ")}), 1)`;
    case "contains":
    case "starts_with":
    case "ends_with":
      // LIKE: case-insensitive for ASCII letters, which is what people expect of e-mail domains and names.
      return `ifnull(${x} LIKE ${bind(ctx, likePattern(check.op, check.value))} ESCAPE '\\', 0)`;
    case "exists":
      return check.value ? `(${x} IS NOT NULL)` : `(${x} IS NULL)`;
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      // SQLite orders every text after every number, and reads JSON true as 1: a JSON value must be a JSON
      // number to compare as one.
      const cmp = `${x} ${COMPARE[check.op]} ${bind(ctx, check.value)}`;
      return ref.source !== "column" ? `ifnull(json_type(${jsonArgs(ref)}) IN ('integer', 'real') AND ${cmp}, 0)` : `ifnull(${cmp}, 0)`;
    }
    case "before":
    case "after":
      return `ifnull(${timeExpr(x, json)} ${check.op === "before" ? "<" : ">"} ${bind(ctx, check.at)}, 0)`;
    case "older_than":
      return `ifnull(${timeExpr(x, json)} <= ${bind(ctx, ctx.now - check.ms)}, 0)`;
    case "newer_than":
      return `ifnull(${timeExpr(x, json)} > ${bind(ctx, ctx.now - check.ms)}, 0)`;
  }
}

/**
 * Times are UTC ms in columns; in JSON they may be ms numbers or ISO 8601 strings. Only text that starts like a
 * date is read as one (julianday would take "10" as a Julian day number, 4700 BC), and the float julianday gives
 * is rounded to the millisecond, so an ISO time falls on the same side of a boundary as its epoch ms would.
 */
function timeExpr(x: string, json: boolean): string {
  if (!json) return x;
  return `(CASE WHEN typeof(${x}) IN ('integer', 'real') THEN ${x} WHEN typeof(${x}) = 'text' AND ${x} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' THEN round((julianday(${x}) - 2440587.5) * 86400000.0) END)`;
}
