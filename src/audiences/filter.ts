/**
 * The audience filter language (SPEC §6) as a typed tree: what `parseFilter` produces from TOML and what
 * `compileFilter` turns into SQL. Field names are already snake_case here.
 */

export const OPERATORS = [
  "eq",
  "neq",
  "in",
  "not_in",
  "contains",
  "starts_with",
  "ends_with",
  "exists",
  "gt",
  "gte",
  "lt",
  "lte",
  "before",
  "after",
  "older_than",
  "newer_than",
] as const;
export type Operator = (typeof OPERATORS)[number];

/** `json` values (traits, event properties) carry no declared type, so every operator applies to them. */
export type FieldType = "text" | "number" | "time" | "json";

/** The user fields a filter may name: columns of `tracked_users` (times are UTC milliseconds). */
export const USER_FIELDS = {
  email: "text",
  name: "text",
  plan: "text",
  stage: "text",
  interval: "text",
  mrr: "number",
  company: "text",
  role: "text",
  signup_date: "time",
  first_seen_at: "time",
  last_seen_at: "time",
} as const satisfies Record<string, FieldType>;
export type UserField = keyof typeof USER_FIELDS;

export const OPERATORS_BY_TYPE: Record<FieldType, readonly Operator[]> = {
  text: ["eq", "neq", "in", "not_in", "contains", "starts_with", "ends_with", "exists"],
  number: ["eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "exists"],
  time: ["before", "after", "older_than", "newer_than", "exists"],
  json: OPERATORS,
};

export type Scalar = string | number | boolean;

/** One operator with its validated value (times as UTC ms, durations as ms). */
export type Check =
  | { op: "eq" | "neq"; value: Scalar }
  | { op: "in" | "not_in"; values: Scalar[] }
  | { op: "contains" | "starts_with" | "ends_with"; value: string }
  | { op: "exists"; value: boolean }
  | { op: "gt" | "gte" | "lt" | "lte"; value: number }
  | { op: "before" | "after"; at: number }
  | { op: "older_than" | "newer_than"; ms: number };

/** Where a field condition reads its value from. */
export type FieldRef =
  | { source: "column"; column: UserField; type: Exclude<FieldType, "json"> }
  | { source: "traits" | "properties"; path: string[]; type: "json" };

export type Filter =
  | { type: "all"; filters: Filter[] }
  | { type: "any"; filters: Filter[] }
  | { type: "not"; filter: Filter }
  | { type: "field"; field: string; ref: FieldRef; checks: Check[] }
  | {
      type: "event";
      name: string;
      /** `not_performed`: true when the user has NOT performed it (with the same where/count/window). */
      negate: boolean;
      where?: Filter;
      atLeast: number;
      atMost?: number;
      withinMs?: number;
    };

/** True when the filter's truth can change with time alone (relative times, event windows). */
export function isTimeBased(filter: Filter): boolean {
  switch (filter.type) {
    case "all":
    case "any":
      return filter.filters.some(isTimeBased);
    case "not":
      return isTimeBased(filter.filter);
    case "field":
      return filter.checks.some((c) => c.op === "older_than" || c.op === "newer_than");
    case "event":
      return filter.withinMs !== undefined || (filter.where !== undefined && isTimeBased(filter.where));
  }
}
