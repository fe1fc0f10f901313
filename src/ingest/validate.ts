import type { z } from "zod";
import type { ErrorDetail } from "../lib/errors";
import { canonicalSpecs } from "./canonical";
import { badTraitEmailKey, checkTimestamp, isCanonicalOk, isCleanTree, isEmail, isPlainObject, isReservedName, MAX_DEPTH, MAX_EVENT_NAME, MAX_USER_ID, unstorable } from "./rules";
import { eventSchema, userSchema } from "./schemas";

/**
 * Item validation: a hand-written fast path answers "certainly valid" for the common case without allocating;
 * anything it cannot vouch for goes through the zod schemas, which are the source of truth and produce the
 * errors (so a fast-path gap can only cost speed, never let a bad item through or block a good one).
 *
 * A valid item becomes its queue payload: the item as received, unknown top-level fields included (SPEC §3
 * ignores them; §2 stores the payload verbatim), less the few that could not be stored (`asReceived`).
 */
export type ItemResult =
  | { ok: true; value: Record<string, unknown> }
  /** `quarantine`: an event whose only problems are its canonical properties (SPEC §4), as it would be stored. */
  | { ok: false; errors: ErrorDetail[]; quarantine?: Record<string, unknown> };

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
  if (badTraitEmailKey(u) !== undefined) return false;
  const traits = u.traits;
  return traits == null || (isPlainObject(traits) && isCleanTree(traits));
}

const EVENT_FIELDS = new Set(["external_user_id", "name", "properties", "timestamp"]);
const USER_FIELDS = new Set(["external_user_id", "email", "traits"]);

/**
 * The item as stored (SPEC §2: the payload verbatim as received): the item itself, unknown top-level fields,
 * key order and `null`s included — those fields are ignored by validation and by the normaliser, not dropped.
 * Two exceptions, left out: an unknown field that could not be stored as sent (`unstorable`: nested deeper than
 * `properties` may be — junk nested past SQLite's JSON limit of 1,000 levels would fail the whole group commit —
 * or holding a number beyond JSON's range), and a `__proto__` key, which whoever reads the payload later could
 * mistake for a prototype.
 */
function asReceived(item: Record<string, unknown>, known: Set<string>): Record<string, unknown> {
  for (const key in item) if (!known.has(key) && !isStorableExtra(key, item[key])) return storableFields(item, known);
  return item;
}

function isStorableExtra(key: string, value: unknown): boolean {
  return key !== "__proto__" && unstorable(value, MAX_DEPTH) === undefined;
}

function storableFields(item: Record<string, unknown>, known: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(item)) if (known.has(key) || isStorableExtra(key, item[key])) out[key] = item[key];
  return out;
}

/** `["properties", "trialDays"]` under `events[3]` → `events[3].properties.trialDays`. */
export function formatField(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const part of path) out += typeof part === "number" ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out;
}

/** One error per field (the first found: `1e999` in a canonical number is both out of range and not a number). */
export function issuesToErrors(issues: readonly z.core.$ZodIssue[], prefix: string, limit = 20): ErrorDetail[] {
  const errors: ErrorDetail[] = [];
  const seen = new Set<string>();
  for (const i of issues) {
    const field = formatField(prefix, i.path);
    if (seen.has(field)) continue;
    seen.add(field);
    errors.push(field ? { code: VALIDATION, message: i.message, field } : { code: VALIDATION, message: i.message });
    if (errors.length === limit) break;
  }
  return errors;
}

function notAnObject(prefix: string, what: string): ItemResult {
  const message = `Expected ${what} object.`;
  return { ok: false, errors: [prefix ? { code: VALIDATION, message, field: prefix } : { code: VALIDATION, message }] };
}

/** Validates one event; `prefix` is its place in the request (`events[3]`, or "" for a single event). */
export function validateEvent(item: unknown, prefix: string): ItemResult {
  if (!isPlainObject(item)) return notAnObject(prefix, "an event");
  if (isFastEvent(item)) return { ok: true, value: asReceived(item, EVENT_FIELDS) };
  const result = eventSchema.safeParse(item);
  if (!result.success) {
    const errors = issuesToErrors(result.error.issues, prefix);
    const canonicalOnly = result.error.issues.every((i) => i.code === "custom" && i.params?.canonical === true);
    return canonicalOnly ? { ok: false, errors, quarantine: asReceived(item, EVENT_FIELDS) } : { ok: false, errors };
  }
  return { ok: true, value: asReceived(item, EVENT_FIELDS) };
}

/** Validates one user (identify); `prefix` as for events (`users[7]`). */
export function validateUser(item: unknown, prefix: string): ItemResult {
  if (!isPlainObject(item)) return notAnObject(prefix, "a user");
  if (isFastUser(item)) return { ok: true, value: asReceived(item, USER_FIELDS) };
  const result = userSchema.safeParse(item);
  if (!result.success) return { ok: false, errors: issuesToErrors(result.error.issues, prefix) };
  return { ok: true, value: asReceived(item, USER_FIELDS) };
}
