import type { z } from "zod";
import { ApiError, type ErrorDetail } from "../lib/errors";
import { batchEnvelope, eventsBulkEnvelope, usersBulkEnvelope } from "./schemas";
import { rawArrayItems } from "./raw-items";
import { issuesToErrors, validateEvent, validateUser, type ItemResult } from "./validate";
import type { QueueGroup, WriteJob } from "./writer";

/**
 * The five endpoints of SPEC §3 as plain functions from a parsed body to an outcome: the rows to enqueue and
 * the response to give once they are committed. No HTTP here; `handler.ts` does auth, limits and idempotency.
 */
export type EndpointName = "users" | "users_bulk" | "events" | "events_batch" | "events_bulk";

/** `accepted`: the items the answer reports accepted; `groups`: the rows to enqueue (bulk adds quarantine-bound ones). */
export type Outcome = { status: number; body: string; source: WriteJob["source"]; groups: QueueGroup[]; accepted: number };

/**
 * One group of rows from the accepted items, serialised in one call. An item is a string when it is the text the
 * client sent (stored as is: SPEC §2's verbatim payload), an object when validation left a field out
 * (`asReceived`, validate.ts) and it must be stored re-serialised; the queue insert takes either.
 */
function groupValues(kind: QueueGroup["kind"], values: (Record<string, unknown> | string)[]): QueueGroup[] {
  return values.length === 0 ? [] : [{ kind, payloads: JSON.stringify(values), count: values.length }];
}

/** What to store for an accepted item: its own text when it is stored whole (validation returned it unchanged). */
function storedForm(item: unknown, value: Record<string, unknown>, raw: string | undefined): Record<string, unknown> | string {
  return raw !== undefined && value === item ? raw : value;
}

export type Endpoint = {
  name: EndpointName;
  path: string;
  /** Bulk endpoints answer `backfill_queue_full` while the project's queue is at its limit. */
  bulk: boolean;
  /** `text` is the body as received, `body` the same parsed. */
  run(body: Record<string, unknown>, text: string): Outcome;
};

export const ACCEPTED_BODY = '{"data":{"accepted":true}}';
const MAX_REPORTED_ERRORS = 100;

function single(kind: QueueGroup["kind"], validate: (item: unknown, prefix: string) => ItemResult) {
  return (body: Record<string, unknown>, text: string): Outcome => {
    const result = validate(body, "");
    if (!result.ok) throw new ApiError(422, result.errors);
    return { status: 202, body: ACCEPTED_BODY, source: "api", groups: groupValues(kind, [storedForm(body, result.value, text)]), accepted: 1 };
  };
}

/** Checks `{events: [...]}` / `{users: [...]}` and returns the array. */
function listIn(body: Record<string, unknown>, key: "events" | "users", max: number, envelope: z.ZodType): unknown[] {
  const list = body[key];
  if (Array.isArray(list) && list.length >= 1 && list.length <= max) return list;
  const result = envelope.safeParse(body);
  throw new ApiError(422, result.success ? [{ code: "validation_failed", message: `Expected 1 to ${max} items.`, field: key }] : issuesToErrors(result.error.issues, ""));
}

/** Each item's text as sent, when the scan agrees with the parsed list (else the items are re-serialised). */
function rawItemsOf(text: string, key: string, count: number): string[] | undefined {
  const raw = rawArrayItems(text, key);
  return raw?.length === count ? raw : undefined;
}

/** All or nothing: one bad event rejects the request, with every problem found (up to 100). */
function runBatch(body: Record<string, unknown>, text: string): Outcome {
  const list = listIn(body, "events", 500, batchEnvelope);
  const raw = rawItemsOf(text, "events", list.length);
  const values: (Record<string, unknown> | string)[] = [];
  const errors: ErrorDetail[] = [];
  for (let i = 0; i < list.length; i++) {
    const result = validateEvent(list[i], `events[${i}]`);
    if (result.ok) values.push(storedForm(list[i], result.value, raw?.[i]));
    else errors.push(...result.errors);
  }
  if (errors.length > 0) throw new ApiError(422, errors.slice(0, MAX_REPORTED_ERRORS));
  return { status: 202, body: ACCEPTED_BODY, source: "api", groups: groupValues("track", values), accepted: values.length };
}

/**
 * Per-record: good records are enqueued, each bad one is reported once (its first problem), by index. A bulk event
 * refused only for its canonical properties (a backfill's `trialDays: "14"`) is reported as rejected and still
 * enqueued: the normaliser puts it in quarantine (`invalid_property`, SPEC §5.3: "a canonical property of the wrong
 * type that slipped past the API (bulk, …)"), where it can be fixed and replayed instead of lost with the backfill.
 */
function bulk(key: "events" | "users", envelope: z.ZodType, kind: QueueGroup["kind"], validate: (item: unknown, prefix: string) => ItemResult) {
  return (body: Record<string, unknown>, text: string): Outcome => {
    const list = listIn(body, key, 1_000, envelope);
    const raw = rawItemsOf(text, key, list.length);
    const values: (Record<string, unknown> | string)[] = [];
    let accepted = 0;
    const errors: (ErrorDetail & { index: number })[] = [];
    for (let i = 0; i < list.length; i++) {
      const result = validate(list[i], `${key}[${i}]`);
      if (result.ok) {
        values.push(storedForm(list[i], result.value, raw?.[i]));
        accepted++;
        continue;
      }
      const error = { index: i, ...result.errors[0]! };
      if (result.quarantine) {
        values.push(storedForm(list[i], result.quarantine, raw?.[i]));
        error.message += " The event is kept in quarantine (invalid_property): fix and replay it there.";
      }
      errors.push(error);
    }
    const response = { data: { accepted, rejected: errors.length, errors }, meta: { received: list.length } };
    return { status: 200, body: JSON.stringify(response), source: "bulk", groups: groupValues(kind, values), accepted };
  };
}

export const ENDPOINTS: readonly Endpoint[] = [
  { name: "users", path: "/api/v1/users", bulk: false, run: single("identify", validateUser) },
  { name: "users_bulk", path: "/api/v1/users/bulk", bulk: true, run: bulk("users", usersBulkEnvelope, "identify", validateUser) },
  { name: "events", path: "/api/v1/events", bulk: false, run: single("track", validateEvent) },
  { name: "events_batch", path: "/api/v1/events/batch", bulk: false, run: runBatch },
  { name: "events_bulk", path: "/api/v1/events/bulk", bulk: true, run: bulk("events", eventsBulkEnvelope, "track", validateEvent) },
];
