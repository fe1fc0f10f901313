import * as v from "valibot";
import { ValidationError } from "./errors.js";
import { STANDARD_EVENT_SCHEMAS, isIsoDate, isStandardEventName } from "./standard-events.js";

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

export function checkUserId(userId: unknown, field = "external_user_id"): string {
  if (typeof userId !== "string" || userId.length === 0) throw new ValidationError("must be a non-empty string", field);
  if (userId.length > 256) throw new ValidationError("must be at most 256 characters", field);
  return userId;
}

export function checkEventName(name: unknown, field = "name"): string {
  if (typeof name !== "string" || name.length === 0) throw new ValidationError("must be a non-empty string", field);
  if (name.length > 200) throw new ValidationError("must be at most 200 characters", field);
  if (name.startsWith("vf_") || name.startsWith("$")) {
    throw new ValidationError("names starting with vf_ or $ are reserved", field);
  }
  return name;
}

export function checkObject(value: unknown, field: string): Properties {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ValidationError("must be a JSON object", field);
  }
  return value as Properties;
}

/** Accepts a Date or an ISO 8601 string; returns the ISO string the server wants. */
export function checkTimestamp(value: unknown, field = "timestamp"): string | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
  if (typeof value === "string" && isIsoDate(value)) return value;
  throw new ValidationError("must be an ISO 8601 string or a valid Date", field);
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
