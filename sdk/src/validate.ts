import * as v from "valibot";
import { ValidationError } from "./errors.js";
import { STANDARD_EVENT_SCHEMAS, isStandardEventName, parseIsoTime } from "./standard-events.js";

// Client-side checks mirror the server's (SPEC §3) so that mistakes throw before any request —
// and, for batches, before one bad event makes the server reject the whole batch.

export type Properties = Record<string, unknown>;

/** The wire shape of one event, as POST /api/v1/events and the batch endpoints take it. */
export interface EventPayload {
  external_user_id: string;
  name: string;
  properties: Properties;
  timestamp?: string;
}

/** Characters as the server counts them: Unicode code points (an emoji is one). */
function longerThan(text: string, max: number): boolean {
  return text.length > max && [...text].length > max;
}

export function checkUserId(userId: unknown, field = "external_user_id"): string {
  if (typeof userId !== "string" || userId.length === 0) throw new ValidationError("must be a non-empty string", field);
  if (longerThan(userId, 256)) throw new ValidationError("must be at most 256 characters", field);
  return userId;
}

/** `vf_` (any case) and `$` start reserved event names, as on the server. */
const isReserved = (name: string) => /^(\$|vf_)/i.test(name);

/** The server's snake_case of a key (`vfScore`, `VF-x` → `vf_score`, `vf_x`): both spellings are one key there. */
const snakeCase = (key: string) =>
  key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2").replace(/[\s-]+/g, "_").toLowerCase();

/** A top-level key is reserved when it starts with `$` or its snake_case form starts with `vf_` (`vfScore` too). */
const isReservedKey = (key: string) => key.startsWith("$") || snakeCase(key).startsWith("vf_");

export function checkEventName(name: unknown, field = "name"): string {
  if (typeof name !== "string" || name.length === 0) throw new ValidationError("must be a non-empty string", field);
  if (longerThan(name, 200)) throw new ValidationError("must be at most 200 characters", field);
  if (isReserved(name)) throw new ValidationError("names starting with vf_ or $ are reserved", field);
  return name;
}

const MAX_DEPTH = 8;

/** A JSON object the server takes as properties or traits: depth ≤ 8, no `__proto__` key, no reserved top-level key, only JSON values. */
export function checkObject(value: unknown, field: string): Properties {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ValidationError("must be a JSON object", field);
  }
  for (const key of Object.keys(value)) {
    if (isReservedKey(key)) throw new ValidationError(`keys starting with $, or whose snake_case starts with vf_, are reserved`, `${field}.${key}`);
  }
  checkTree(value, 1, field);
  return value as Properties;
}

function checkTree(node: unknown, depth: number, path: string): void {
  if (typeof node === "bigint") throw new ValidationError("a BigInt cannot be sent as JSON", path);
  // JSON.stringify would send these as null, which the server stores, or reads as "remove this trait".
  if (typeof node === "number" && !Number.isFinite(node)) throw new ValidationError(`${node} cannot be sent as JSON`, path);
  if (node instanceof Date && Number.isNaN(node.getTime())) throw new ValidationError("an invalid Date cannot be sent as JSON", path);
  if (typeof node !== "object" || node === null) return;
  if (depth > MAX_DEPTH) throw new ValidationError(`nested deeper than ${MAX_DEPTH} levels`, path);
  if (Array.isArray(node)) return node.forEach((item, i) => checkTree(item, depth + 1, `${path}[${i}]`));
  for (const key of Object.keys(node)) {
    if (key === "__proto__") throw new ValidationError('the key "__proto__" is not allowed', `${path}.${key}`);
    checkTree((node as Record<string, unknown>)[key], depth + 1, `${path}.${key}`);
  }
}

/** How far ahead of now the server accepts a timestamp. */
const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;

/** Accepts a Date or an ISO 8601 string the server accepts, at most 24 h ahead; returns the text to send. */
export function checkTimestamp(value: unknown, field = "timestamp"): string | undefined {
  if (value === undefined) return undefined;
  const text = value instanceof Date && !Number.isNaN(value.getTime()) ? value.toISOString() : value;
  const at = typeof text === "string" ? parseIsoTime(text) : undefined;
  if (at === undefined) throw new ValidationError("must be an ISO 8601 string (e.g. 2026-03-01T12:00:00Z) or a valid Date", field);
  if (at > Date.now() + MAX_FUTURE_MS) throw new ValidationError("is more than 24 hours in the future", field);
  return text as string;
}

/**
 * Validates a canonical event's properties with its valibot schema. The server treats `trialDays`
 * and `trial_days` as one key, so the check runs on a camelCase view; the payload is sent as given.
 */
export function checkStandardProperties(name: string, properties: Properties, field = "properties"): void {
  if (!isStandardEventName(name)) return;
  const view = camelView(properties, field);
  const result = v.safeParse(STANDARD_EVENT_SCHEMAS[name], view);
  if (result.success) return;
  const issue = result.issues[0];
  const path = v.getDotPath(issue);
  const message = issue.input === undefined ? "is required" : issue.message;
  throw new ValidationError(`${name}: ${path ?? field} ${message}`, path ? `${field}.${path}` : field);
}

/** Validates and shapes one event for the wire. */
export function buildEvent(
  name: string,
  userId: string,
  properties: unknown,
  timestamp: unknown,
  prefix = "",
): EventPayload {
  const event: EventPayload = {
    external_user_id: checkUserId(userId, `${prefix}external_user_id`),
    name: checkEventName(name, `${prefix}name`),
    properties: checkObject(properties, `${prefix}properties`),
  };
  checkStandardProperties(event.name, event.properties, `${prefix}properties`);
  const ts = checkTimestamp(timestamp, `${prefix}timestamp`);
  if (ts !== undefined) event.timestamp = ts;
  return event;
}

function camelView(properties: Properties, field: string): Properties {
  const view: Properties = {};
  for (const [key, value] of Object.entries(properties)) {
    const camel = key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    if (camel in view && view[camel] !== value) {
      throw new ValidationError(`${key} and another spelling of it have different values`, `${field}.${key}`);
    }
    view[camel] = value;
  }
  return view;
}
