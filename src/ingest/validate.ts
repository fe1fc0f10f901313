import type { z } from "zod";
import type { ErrorDetail } from "../lib/errors";
import { canonicalSpecs } from "./canonical";
import { checkTimestamp, isCanonicalOk, isCleanTree, isEmail, isPlainObject, isReservedName, MAX_EVENT_NAME, MAX_USER_ID } from "./rules";
import { eventSchema, userSchema } from "./schemas";

/**
 * Item validation: a hand-written fast path answers "certainly valid" for the common case without allocating;
 * anything it cannot vouch for goes through the zod schemas, which are the source of truth and produce the
 * errors (so a fast-path gap can only cost speed, never let a bad item through or block a good one).
 *
 * A valid item becomes its queue payload: an object of the known fields only — the item itself when it has
 * nothing else, to avoid a copy (unknown top-level fields are ignored, SPEC §3, and so not stored — which also
 * drops a top-level `__proto__`).
 */
export type ItemResult = { ok: true; value: Record<string, unknown> } | { ok: false; errors: ErrorDetail[] };

const VALIDATION = "validation_failed";

function isFastUserId(id: unknown): boolean {
  return typeof id === "string" && id.length > 0 && id.length <= MAX_USER_ID;
}

function isFastEvent(e: Record<string, unknown>): boolean {
  const name = e.name;
  if (!isFastUserId(e.external_user_id)) return false;
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_EVENT_NAME || isReservedName(name)) return false;
  const props = e.properties;
  if (props != null && (!isPlainObject(props) || !isCleanTree(props))) return false;
  const t = e.timestamp;
  if (t != null && (typeof t !== "string" || checkTimestamp(t) !== undefined)) return false;
  const specs = canonicalSpecs(name);
  return !specs || isCanonicalOk(specs, (props ?? undefined) as Record<string, unknown> | undefined);
}

function isFastUser(u: Record<string, unknown>): boolean {
  if (!isFastUserId(u.external_user_id)) return false;
  if (u.email != null && !isEmail(u.email)) return false;
  const traits = u.traits;
  return traits == null || (isPlainObject(traits) && isCleanTree(traits));
}

/** The event as stored: the item itself when it holds only known, non-null fields (the common case, no copy). */
export function eventPayload(e: Record<string, unknown>): Record<string, unknown> {
  for (const key in e) {
    if (key !== "external_user_id" && key !== "name" && key !== "properties" && key !== "timestamp") return copyEvent(e);
  }
  return e.properties === null || e.timestamp === null ? copyEvent(e) : e;
}

function copyEvent(e: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { external_user_id: e.external_user_id, name: e.name };
  if (e.properties != null) out.properties = e.properties;
  if (e.timestamp != null) out.timestamp = e.timestamp;
  return out;
}

export function userPayload(u: Record<string, unknown>): Record<string, unknown> {
  for (const key in u) if (key !== "external_user_id" && key !== "email" && key !== "traits") return copyUser(u);
  return u.traits === null ? copyUser(u) : u;
}

function copyUser(u: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { external_user_id: u.external_user_id };
  if (u.email !== undefined) out.email = u.email; // null removes the address (SPEC §5.1)
  if (u.traits != null) out.traits = u.traits;
  return out;
}

/** `["properties", "trialDays"]` under `events[3]` → `events[3].properties.trialDays`. */
export function formatField(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const part of path) out += typeof part === "number" ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out;
}

export function issuesToErrors(issues: readonly z.core.$ZodIssue[], prefix: string, limit = 20): ErrorDetail[] {
  return issues.slice(0, limit).map((i) => {
    const field = formatField(prefix, i.path);
    return field ? { code: VALIDATION, message: i.message, field } : { code: VALIDATION, message: i.message };
  });
}

function notAnObject(prefix: string, what: string): ItemResult {
  const message = `Expected ${what} object.`;
  return { ok: false, errors: [prefix ? { code: VALIDATION, message, field: prefix } : { code: VALIDATION, message }] };
}

/** Validates one event; `prefix` is its place in the request (`events[3]`, or "" for a single event). */
export function validateEvent(item: unknown, prefix: string): ItemResult {
  if (!isPlainObject(item)) return notAnObject(prefix, "an event");
  if (isFastEvent(item)) return { ok: true, value: eventPayload(item) };
  const result = eventSchema.safeParse(item);
  if (!result.success) return { ok: false, errors: issuesToErrors(result.error.issues, prefix) };
  return { ok: true, value: eventPayload(item) };
}

/** Validates one user (identify); `prefix` as for events (`users[7]`). */
export function validateUser(item: unknown, prefix: string): ItemResult {
  if (!isPlainObject(item)) return notAnObject(prefix, "a user");
  if (isFastUser(item)) return { ok: true, value: userPayload(item) };
  const result = userSchema.safeParse(item);
  if (!result.success) return { ok: false, errors: issuesToErrors(result.error.issues, prefix) };
  return { ok: true, value: userPayload(item) };
}
