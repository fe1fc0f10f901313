import { canonicalSpecs } from "../ingest/canonical";
import { checkCanonical, hasCharsUpTo, hasLoneSurrogate, isEmail, isPlainObject, isReservedName, MAX_EVENT_NAME, MAX_FUTURE_MS, MAX_USER_ID, parseIsoTimestamp, toWellFormed, type Issue } from "../ingest/rules";
import { snakeKey } from "../lib/case";
import { reject, Rejection } from "./reasons";

/**
 * Queue payloads → normalised items (SPEC §5.1, §5.3). Pure functions of the payload text: the same text always
 * gives the same answer, so an event checked when it is buffered is still good when it is attached.
 * Anything that cannot be applied comes back as a `Rejection` (a quarantine reason), never as a throw.
 */

export type Kind = "identify" | "track";

/** Column values an identify sets: a key present with `null` clears the column. */
export type KnownTraits = {
  email?: string | null;
  name?: string | null;
  plan?: string | null;
  signup_date?: number | null;
  company?: string | null;
  role?: string | null;
};

export type IdentifyItem = {
  kind: "identify";
  externalUserId: string;
  known: KnownTraits;
  /** Other traits, snake_case keys; `null` removes the key. */
  traits: Record<string, unknown>;
  /** A Segment identify carrying both ids: the `anon:<anonymousId>` whose buffered events are this user's. */
  anonymousAlias?: string;
};

export type TrackItem = {
  kind: "track";
  externalUserId: string;
  name: string;
  /** snake_case keys, values as sent (null-prototype object: a `__proto__` key stays an ordinary key). */
  properties: Record<string, unknown>;
  occurredAt: number;
};

export type Item = IdentifyItem | TrackItem;

/** Earliest and latest storable times: years 0001–9999. */
const MIN_TIME = -62_135_596_800_000;
const MAX_TIME = 253_402_300_799_999;
/** The known traits (SPEC §2), kept in columns of their own rather than in `traits`. */
export const KNOWN_TRAITS: ReadonlySet<string> = new Set(["email", "name", "plan", "signup_date", "company", "role"]);

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Top-level keys → snake_case. Two spellings of one key with equal values merge; with different values the
 * item is ambiguous. Nested objects are kept as sent: their keys are often data (ids, names), not field names.
 */
export function snakeKeys(obj: Record<string, unknown>, field: string): Record<string, unknown> | Rejection {
  const out: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    const snake = snakeKey(key);
    if (Object.hasOwn(out, snake) && !sameValue(out[snake], value)) {
      return reject("ambiguous_key", `${field}: "${key}" and another spelling of "${snake}" have different values`);
    }
    out[snake] = value;
  }
  return out;
}

export function isRejection(x: unknown): x is Rejection {
  return x instanceof Rejection;
}

function checkUserId(value: unknown): string | Rejection {
  if (typeof value !== "string" || !hasCharsUpTo(value, MAX_USER_ID)) {
    return reject("invalid_payload", "external_user_id: expected a string of 1–256 characters");
  }
  return value;
}

/** A time from a number (milliseconds; below 1e11 it can only mean seconds) or an ISO 8601 string. */
export function parseTime(value: unknown): number | undefined {
  let t: number | undefined;
  if (typeof value === "number" && Number.isFinite(value)) t = Math.round(Math.abs(value) < 1e11 ? value * 1000 : value);
  else if (typeof value === "string") t = parseIsoTimestamp(value.trim());
  return t !== undefined && t >= MIN_TIME && t <= MAX_TIME ? t : undefined;
}

export function isStorableTime(t: number): boolean {
  return Number.isFinite(t) && t >= MIN_TIME && t <= MAX_TIME;
}

function parseJsonObject(text: string): Record<string, unknown> | Rejection {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return reject("invalid_payload", "the payload is not valid JSON");
  }
  if (!isPlainObject(value)) return reject("invalid_payload", "the payload is not a JSON object");
  // The API refuses these; a replayed or Segment item could still carry one. Anywhere in the payload it could
  // reach a text column (an id, a name, a trait, a plan, a feature…) as invalid UTF-8, which libSQL cannot read
  // back: the item is quarantined whole.
  if (hasLoneSurrogate(text, value)) return reject("invalid_payload", "a string holds a lone UTF-16 surrogate (not valid Unicode text)");
  return value;
}

function knownTrait(key: string, value: unknown): string | number | null | Rejection {
  if (value === null) return null;
  if (key === "signup_date") {
    const t = parseTime(value);
    return t ?? reject("invalid_trait", `signup_date: expected an ISO 8601 time or milliseconds, got ${JSON.stringify(value)}`);
  }
  if (key === "email") return isEmail(value) ? value : reject("invalid_trait", `email: expected an email address`);
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return reject("invalid_trait", `${key}: expected a string, got ${Array.isArray(value) ? "an array" : typeof value}`);
}

/** An identify payload `{external_user_id, email?, traits?}` (SPEC §5.1). */
/** The external id under which Segment messages with only an `anonymousId` wait for their user (docs/segment.md). */
export const ANONYMOUS_PREFIX = "anon:";

export function normaliseIdentify(text: string): IdentifyItem | Rejection {
  const body = parseJsonObject(text);
  if (isRejection(body)) return body;
  const externalUserId = checkUserId(body.external_user_id);
  if (typeof externalUserId !== "string") return externalUserId;
  if (body.traits != null && !isPlainObject(body.traits)) return reject("invalid_payload", "traits: expected a JSON object");
  const traits = body.traits ? snakeKeys(body.traits, "traits") : Object.create(null);
  if (isRejection(traits)) return traits;
  const known: Record<string, unknown> = {};
  const rest: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(traits)) {
    if (key === "email" && body.email != null) continue; // the top-level email wins, whatever traits.email holds
    if (!KNOWN_TRAITS.has(key)) {
      rest[key] = traits[key];
      continue;
    }
    const value = knownTrait(key, traits[key]);
    if (isRejection(value)) return value;
    known[key] = value;
  }
  // A top-level email wins over traits.email; a top-level null means "not given" (SDKs send it for unknowns).
  if (body.email != null) {
    const email = knownTrait("email", body.email);
    if (isRejection(email)) return email;
    known.email = email;
  }
  const item: IdentifyItem = { kind: "identify", externalUserId, known: known as KnownTraits, traits: rest };
  // Segment links a visitor's anonymous events to the user when an identify carries both ids (src/segment).
  const anonymousId = isPlainObject(body.segment) ? (body.segment as Record<string, unknown>).anonymousId : undefined;
  if (typeof anonymousId === "string" && anonymousId !== "") {
    const alias = `${ANONYMOUS_PREFIX}${anonymousId}`;
    if (alias !== externalUserId && typeof checkUserId(alias) === "string") item.anonymousAlias = alias;
  }
  return item;
}

/** A track payload `{external_user_id, name, properties?, timestamp?}`; `receivedAt` stands in for a missing timestamp. */
export function normaliseTrack(text: string, receivedAt: number): TrackItem | Rejection {
  const body = parseJsonObject(text);
  if (isRejection(body)) return body;
  const externalUserId = checkUserId(body.external_user_id);
  if (typeof externalUserId !== "string") return externalUserId;
  const name = body.name;
  if (typeof name !== "string" || !hasCharsUpTo(name, MAX_EVENT_NAME)) {
    return reject("invalid_payload", "name: expected a string of 1–200 characters");
  }
  // The API refuses these (SPEC §3); from Segment or a replay they reach the queue, and are kept here instead.
  if (isReservedName(name)) return reject("invalid_payload", `name: ${JSON.stringify(name.slice(0, 50))} is reserved (names starting with "vf_" or "$")`);
  if (body.properties != null && !isPlainObject(body.properties)) return reject("invalid_payload", "properties: expected a JSON object");
  const properties = body.properties ? snakeKeys(body.properties, "properties") : Object.create(null);
  if (isRejection(properties)) return properties;
  let occurredAt = receivedAt;
  if (body.timestamp != null) {
    const t = parseTime(body.timestamp);
    if (t === undefined) return reject("invalid_timestamp", `timestamp: expected an ISO 8601 time, got ${JSON.stringify(body.timestamp)}`);
    // The API's rule (SPEC §3), for what reaches the queue without it (Segment, replays): a time claimed more
    // than 24 h past the item's arrival would keep the user "seen recently" in every recency filter until then.
    if (t > receivedAt + MAX_FUTURE_MS) return reject("invalid_timestamp", `timestamp: ${JSON.stringify(body.timestamp)} is more than 24 h after the item was received`);
    occurredAt = t;
  }
  const problem = checkCanonicalEvent(name, properties, occurredAt);
  if (problem) return problem;
  return { kind: "track", externalUserId, name, properties, occurredAt };
}

/** SPEC §4 types (the API's own checks, so both sides agree) plus what derived state needs to stay storable. */
function checkCanonicalEvent(name: string, props: Record<string, unknown>, occurredAt: number): Rejection | undefined {
  const specs = canonicalSpecs(name);
  if (!specs) return undefined;
  const issues: Issue[] = [];
  checkCanonical(specs, props, issues, ["properties"]);
  if (issues.length > 0) {
    return reject("invalid_property", issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  }
  for (const key of ["trial_days", "days_left"]) {
    const days = props[key];
    if (typeof days === "number" && !isStorableTime(occurredAt + days * 86_400_000)) {
      return reject("invalid_property", `properties.${key}: ${days} days from the event is out of range`);
    }
  }
  return undefined;
}

export function normalise(kind: string, text: string, receivedAt: number): Item | Rejection {
  if (kind === "identify") return normaliseIdentify(text);
  if (kind === "track") return normaliseTrack(text, receivedAt);
  return reject("invalid_payload", `unknown item kind "${kind}"`);
}

/** Best-effort external_user_id and event name of any payload, for quarantine listings. */
export function peekPayload(text: string): { externalUserId: string | null; eventName: string | null } {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    const id = v?.external_user_id;
    const name = v?.name;
    return {
      // For listings only: made well-formed, as they go to text columns (see quarantine-item.ts).
      externalUserId: typeof id === "string" ? toWellFormed(id.slice(0, 256)) : null,
      eventName: typeof name === "string" ? toWellFormed(name.slice(0, 200)) : null,
    };
  } catch {
    return { externalUserId: null, eventName: null };
  }
}
