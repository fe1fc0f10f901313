import { z } from "zod";
import { snakeKey, toSnakeCase } from "../lib/case";
import { now } from "../lib/clock";
import type { PropertySpec, PropertyType } from "./canonical";

/**
 * The checks behind SPEC §3's validation rules, as plain functions: the zod schemas (which report errors) and
 * the fast path (which only answers "certainly valid") both call these, so the two can never disagree.
 */

export const MAX_USER_ID = 256;
export const MAX_EVENT_NAME = 200;
export const MAX_EMAIL = 320;
/** `properties`/`traits` themselves are level 1; each nested object or array adds one. */
export const MAX_DEPTH = 8;
export const MAX_FUTURE_MS = 24 * 3_600_000;

export const EMAIL_PATTERN = z.regexes.email;

/**
 * Whether `text` has 1 to `max` characters, counted as Unicode code points — as zod's `max` counts them, so the
 * API and the normaliser agree (an emoji is one character, though two UTF-16 units in `length`).
 */
export function hasCharsUpTo(text: string, max: number): boolean {
  if (text.length <= max) return text.length > 0;
  if (text.length > 2 * max) return false;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    // The low half of a surrogate pair belongs to the character counted at its high half.
    if ((text.charCodeAt(i) & 0xfc00) === 0xdc00 && i > 0 && (text.charCodeAt(i - 1) & 0xfc00) === 0xd800) continue;
    if (++n > max) return false;
  }
  return true;
}

/**
 * Whether a parsed JSON value holds a string (or key) with a lone UTF-16 surrogate — which only an escape like
 * `"\ud800"` can produce. Such text is not valid Unicode: SQLite would store it as invalid UTF-8, and reading it
 * back aborts libSQL (a dashboard page showing it crashed the process). `text` is the JSON it was parsed from:
 * without a surrogate escape in it (almost always) nothing is walked.
 */
export function hasLoneSurrogate(text: string, value: unknown): boolean {
  return SURROGATE_ESCAPE.test(text) && holdsIllFormed(value);
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/** ES2024's String.prototype.isWellFormed (native in Bun; the project's TypeScript lib predates it). */
export const isWellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();
/** ES2024's String.prototype.toWellFormed: each lone surrogate becomes U+FFFD (for text that is only shown). */
export const toWellFormed = (text: string): string => (text as string & { toWellFormed(): string }).toWellFormed();

function holdsIllFormed(value: unknown): boolean {
  if (typeof value === "string") return !isWellFormed(value);
  if (typeof value !== "object" || value === null) return false;
  for (const key in value) {
    if (!isWellFormed(key) || holdsIllFormed((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/**
 * What keeps a JSON value from being stored as sent, or undefined: nested deeper than `maxDepth` (an object or
 * array is one level; SQLite's JSON functions stop at 1,000 and would fail the whole group commit), or a number
 * beyond JSON's range (`1e999` parses as Infinity and would be stored as null).
 */
export function unstorable(value: unknown, maxDepth: number): string | undefined {
  const walk = (v: unknown, depth: number): string | undefined => {
    if (typeof v === "number") return Number.isFinite(v) ? undefined : NUMBER_OUT_OF_RANGE;
    if (typeof v !== "object" || v === null) return undefined;
    if (depth > maxDepth) return `Nested deeper than ${maxDepth} levels.`;
    for (const key in v) {
      const problem = walk((v as Record<string, unknown>)[key], depth + 1);
      if (problem) return problem;
    }
    return undefined;
  };
  return walk(value, 1);
}

/** Event names starting with `vf_` (any case) or `$` are reserved for Vibefollow. */
export function isReservedName(name: string): boolean {
  const c = name.charCodeAt(0);
  if (c === 36) return true; // "$"
  return (c | 32) === 118 && (name.charCodeAt(1) | 32) === 102 && name.charCodeAt(2) === 95; // "vf_"
}

/**
 * A property or trait key is reserved when it starts with `$`, or when its snake_case form starts with `vf_`
 * (`vfScore` ≡ `vf_score`, since camelCase and snake_case spellings are the same key).
 */
export function isReservedKey(key: string): boolean {
  const c = key.charCodeAt(0);
  if (c === 36) return true;
  if ((c | 32) !== 118 || (key.charCodeAt(1) | 32) !== 102) return false; // cheap pre-check: starts with "vf"
  return toSnakeCase(key).startsWith("vf_");
}

/** The number written by `length` ASCII digits at `at`, or -1. */
function digitsAt(text: string, at: number, length: number): number {
  let n = 0;
  for (let i = at; i < at + length; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Parses an ISO 8601 timestamp to UTC milliseconds: a date (`2026-03-01`, midnight UTC) or a date-time
 * (optional seconds and fraction) with a zone (`Z`, `±hh:mm`, `±hhmm` or `±hh`) or without one, read as UTC — what
 * `datetime.utcnow().isoformat()` and other naive UTC clocks send; reading it in the server's own zone would make
 * its meaning depend on where Vibefollow runs. Impossible dates (`2026-02-30`) are refused — `Date.parse` would
 * roll them over. Hand-written because it runs for every event on the hot path.
 */
export function parseIsoTimestamp(text: string): number | undefined {
  const len = text.length;
  if (len < 10 || len > 40) return undefined;
  const y = digitsAt(text, 0, 4);
  const mo = digitsAt(text, 5, 2);
  const d = digitsAt(text, 8, 2);
  // Year 0000 is outside what is stored (0001–9999).
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return undefined;
  if (d > daysInMonth(y, mo)) return undefined;
  if (len === 10) return utc(y, mo - 1, d, 0, 0, 0, 0);
  const t = text.charCodeAt(10);
  if ((t !== 84 && t !== 116 && t !== 32) || len < 16 || text.charCodeAt(13) !== 58) return undefined; // "T"/"t"/" " (RFC 3339), "hh:mm"
  const h = digitsAt(text, 11, 2);
  const mi = digitsAt(text, 14, 2);
  if (h < 0 || h > 23 || mi < 0 || mi > 59) return undefined;
  let i = 16;
  let sec = 0;
  let ms = 0;
  if (text.charCodeAt(i) === 58) {
    sec = digitsAt(text, i + 1, 2);
    if (sec < 0 || sec > 59) return undefined;
    i += 3;
    const dot = text.charCodeAt(i);
    if (dot === 46 || dot === 44) {
      const start = ++i;
      while (i < len && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
      if (i === start || i - start > 9) return undefined;
      ms = Math.floor(digitsAt(text, start, Math.min(3, i - start)) * 10 ** (3 - Math.min(3, i - start)));
    }
  }
  const z = text.charCodeAt(i);
  let offset = 0;
  if (z === 90 || z === 122) {
    if (i + 1 !== len) return undefined; // "Z"/"z"
  } else if (z === 43 || z === 45) {
    // `±hh:mm`, `±hhmm`, or `±hh` alone (ISO 8601 allows the hour without minutes).
    const oh = digitsAt(text, i + 1, 2);
    let om = 0;
    let end = i + 3;
    if (end !== len) {
      const colon = text.charCodeAt(end) === 58 ? 1 : 0;
      om = digitsAt(text, end + colon, 2);
      end += colon + 2;
    }
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || end !== len) return undefined;
    offset = (z === 45 ? -1 : 1) * (oh * 60 + om) * 60_000;
  } else if (i !== len) return undefined; // nothing after the time: no zone, UTC
  return utc(y, mo - 1, d, h, mi, sec, ms) - offset;
}

/** 400 Gregorian years, in milliseconds: the calendar repeats exactly after them. */
const FOUR_CENTURIES_MS = 146_097 * 86_400_000;

/** Date.UTC, except that it reads years 0–99 as 1900–1999: those are computed 400 years on, then moved back. */
function utc(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  return y < 100 ? Date.UTC(y + 400, mo, d, h, mi, s, ms) - FOUR_CENTURIES_MS : Date.UTC(y, mo, d, h, mi, s, ms);
}

/** Why a timestamp is refused, or undefined when it is fine (ISO 8601, at most 24 h ahead of `now()`). */
export function checkTimestamp(text: string): string | undefined {
  const t = parseIsoTimestamp(text);
  if (t === undefined) return "Expected an ISO 8601 timestamp, e.g. 2026-03-01T12:00:00Z.";
  if (t > now() + MAX_FUTURE_MS) return "The timestamp is more than 24 hours in the future.";
  return undefined;
}

export function isEmail(value: unknown): value is string {
  return typeof value === "string" && value.length <= MAX_EMAIL && EMAIL_PATTERN.test(value);
}

/**
 * An identify's `traits.email` (any spelling whose snake_case is `email`) that is neither null nor an address,
 * when no top-level `email` stands in for it (the top-level one wins, SPEC §5.1): its key, else undefined.
 */
export function badTraitEmailKey(user: Record<string, unknown>): string | undefined {
  const traits = user.traits;
  if (user.email != null || !isPlainObject(traits)) return undefined;
  for (const key of Object.keys(traits)) {
    const value = traits[key];
    if (value != null && toSnakeCase(key) === "email" && !isEmail(value)) return key;
  }
  return undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export type Issue = { path: (string | number)[]; message: string };

/** `1e400` parses as Infinity, which JSON cannot hold: it would be stored as `null`, not as sent. */
const NUMBER_OUT_OF_RANGE = "A number beyond what JSON can store (±1.8e308).";

/**
 * Checks a `properties`/`traits` tree: depth ≤ 8, no `__proto__` key at any level (it would pollute the
 * prototype of any object it is later copied into), no reserved key at the top level, no number out of JSON's
 * range. Pushes at most a few issues and never recurses deeper than the limit, so a hostile 1 MiB nest costs
 * nothing.
 */
export function checkTree(value: Record<string, unknown>, issues: Issue[], path: (string | number)[] = []): void {
  for (const key in value) {
    if (isReservedKey(key)) issues.push({ path: [...path, key], message: `Keys starting with "vf_" or "$" are reserved.` });
  }
  walk(value, 1, path, issues);
}

function walk(node: unknown, depth: number, path: (string | number)[], issues: Issue[]): void {
  if (issues.length >= 10) return;
  if (typeof node === "number" && !Number.isFinite(node)) {
    issues.push({ path, message: NUMBER_OUT_OF_RANGE });
    return;
  }
  if (typeof node !== "object" || node === null) return;
  if (depth > MAX_DEPTH) {
    issues.push({ path, message: `Nested deeper than ${MAX_DEPTH} levels.` });
    return;
  }
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) walk(node[i], depth + 1, [...path, i], issues);
    return;
  }
  for (const key of Object.keys(node)) {
    if (key === "__proto__") {
      issues.push({ path: [...path, key], message: `The key "__proto__" is not allowed.` });
      continue;
    }
    walk((node as Record<string, unknown>)[key], depth + 1, [...path, key], issues);
  }
}

/** True when the tree passes `checkTree` (the fast path: no paths built, no arrays allocated). */
export function isCleanTree(value: Record<string, unknown>): boolean {
  for (const key in value) if (isReservedKey(key)) return false;
  return isCleanNode(value, 1);
}

function isCleanNode(node: unknown, depth: number): boolean {
  if (typeof node !== "object" || node === null) return typeof node !== "number" || Number.isFinite(node);
  if (depth > MAX_DEPTH) return false;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) if (!isCleanNode(node[i], depth + 1)) return false;
    return true;
  }
  for (const key in node) {
    if (key === "__proto__" || !isCleanNode((node as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

function typeError(type: PropertyType, value: unknown): string | undefined {
  switch (type) {
    case "string":
      return typeof value === "string" ? undefined : "Expected a string.";
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? undefined : "Expected a number.";
    case "integer":
      return Number.isSafeInteger(value) ? undefined : "Expected an integer (cents).";
    case "boolean":
      return typeof value === "boolean" ? undefined : "Expected true or false.";
    case "email":
      return isEmail(value) ? undefined : "Expected an email address.";
    case "iso":
      return typeof value === "string" && parseIsoTimestamp(value) !== undefined ? undefined : "Expected an ISO 8601 timestamp.";
  }
}

/**
 * The spec a property key stands for: its camelCase or snake_case spelling, or any other spelling the normaliser
 * folds into it (`MRR`, `TrialDays`, `trial-days`: SPEC §3, one key however it is spelt), so that no spelling slips
 * a wrong type past the API into quarantine.
 */
function specOf(specs: readonly PropertySpec[], key: string): number {
  for (let i = 0; i < specs.length; i++) if (specs[i]!.camel === key || specs[i]!.snake === key) return i;
  const snake = snakeKey(key);
  for (let i = 0; i < specs.length; i++) if (specs[i]!.snake === snake) return i;
  return -1;
}

/**
 * Checks a canonical event's properties (SPEC §4): required ones present (in any spelling), every present one of
 * the right type. `null` counts as absent for optional properties.
 */
export function checkCanonical(specs: readonly PropertySpec[], props: Record<string, unknown> | undefined, issues: Issue[], path: (string | number)[]): void {
  let present = 0;
  for (const key of props ? Object.keys(props) : []) {
    const i = specOf(specs, key);
    const value = props![key];
    if (i < 0 || value === undefined || (value === null && !specs[i]!.required)) continue;
    present |= 1 << i;
    const error = typeError(specs[i]!.type, value);
    if (error) issues.push({ path: [...path, key], message: error });
  }
  specs.forEach((spec, i) => {
    if (!spec.required || present & (1 << i)) return;
    const spellings = spec.camel === spec.snake ? `"${spec.camel}"` : `"${spec.camel}" or "${spec.snake}"`;
    issues.push({ path: [...path, spec.camel], message: `Required for this event (as ${spellings}).` });
  });
}

/** Fast-path twin of `checkCanonical`. */
export function isCanonicalOk(specs: readonly PropertySpec[], props: Record<string, unknown> | undefined): boolean {
  let present = 0;
  if (props) {
    for (const key in props) {
      const i = specOf(specs, key);
      const value = props[key];
      if (i < 0 || value === undefined || (value === null && !specs[i]!.required)) continue;
      if (typeError(specs[i]!.type, value)) return false;
      present |= 1 << i;
    }
  }
  for (let i = 0; i < specs.length; i++) if (specs[i]!.required && !(present & (1 << i))) return false;
  return true;
}
