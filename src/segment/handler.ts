import { ingestCounters } from "../ingest/counters";
import type { RateLimiter } from "../ingest/rate-limit";
import { isPlainObject, unstorable } from "../ingest/rules";
import type { GroupCommitWriter } from "../ingest/writer";
import type { KeyVerifier } from "../keys/service";
import { now } from "../lib/clock";
import { ApiError, type ErrorDetail } from "../lib/errors";
import { log } from "../lib/log";
import { authenticateKey, keyFromHeader } from "./auth";
import { MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, readSegmentBody, tooLarge } from "./body";
import { keyOf, type MessageClaims } from "./dedupe";
import { mapMessage, SEGMENT_TYPES } from "./map";

export type SegmentDeps = { keys: KeyVerifier; limiter: RateLimiter; writer: GroupCommitWriter; claims: MessageClaims };

/** `batch` or one of Segment's six message types, from the path `/v1/<type>`. */
export type SegmentPath = "batch" | (typeof SEGMENT_TYPES)[number];

export const SUCCESS_BODY = '{"success":true}';
const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };
/** What a messageId's key stores: only its presence is ever read (dedupe.ts). */
const MESSAGE_KEY_RECORD = { requestHash: "segment", status: 200, responseBody: SUCCESS_BODY };
const MAX_REPORTED_ERRORS = 100;
/** Objects and arrays nested in one message, at most (real Segment messages: a handful). */
const MAX_MESSAGE_DEPTH = 32;
/** The message types Vibefollow accepts and ignores (map.ts maps only identify and track). */
const IGNORED_PATHS: ReadonlySet<SegmentPath> = new Set(SEGMENT_TYPES.filter((t) => t !== "identify" && t !== "track"));

type Accepted = { kind: "identify" | "track"; payload: string; key?: string };

/**
 * One Segment request: auth (401) → rate limit (429, one bucket per project for all of `/v1/*`) → size,
 * encoding and JSON (413/415/400) → per-message checks (413/422, all or nothing) → messageId dedupe →
 * group commit → `200 {"success":true}`, written only after the commit. Counted by endpoint and status.
 */
export async function handleSegment(deps: SegmentDeps, path: SegmentPath, request: Request): Promise<Response> {
  let response: Response;
  try {
    response = await run(deps, path, request);
  } catch (error) {
    response = errorResponse(error, path, request);
  }
  ingestCounters.add(`segment_${path}`, response.status);
  return response;
}

async function run(deps: SegmentDeps, path: SegmentPath, request: Request): Promise<Response> {
  const headerKey = keyFromHeader(request.headers.get("authorization"));
  let projectId = headerKey === undefined ? undefined : await authenticateKey(deps.keys, headerKey);
  if (projectId !== undefined) limit(deps, projectId);
  // page, screen, group and alias are accepted and ignored (SPEC §13): with the key in the header, whatever their
  // body holds (even no JSON at all) is 200. Size and content type are still checked.
  if (projectId !== undefined && IGNORED_PATHS.has(path)) {
    await readSegmentBody(request, MAX_MESSAGE_BYTES).catch((e) => {
      if (!(e instanceof ApiError && e.status === 400)) throw e;
    });
    return new Response(SUCCESS_BODY, { status: 200, headers: JSON_HEADERS });
  }
  const body = await readSegmentBody(request, path === "batch" ? MAX_BATCH_BYTES : MAX_MESSAGE_BYTES);
  if (projectId === undefined) {
    projectId = await authenticateKey(deps.keys, typeof body.writeKey === "string" ? body.writeKey : undefined);
    limit(deps, projectId);
  }
  const receivedAt = now();
  const accepted = acceptMessages(path, body, receivedAt);
  if (accepted.length > 0) await enqueue(deps, projectId, accepted, receivedAt);
  return new Response(SUCCESS_BODY, { status: 200, headers: JSON_HEADERS });
}

function limit(deps: SegmentDeps, projectId: string): void {
  const wait = deps.limiter.take(projectId, "segment");
  if (wait > 0) throw new ApiError(429, [{ code: "rate_limited", message: `Too many requests; retry in ${wait} s.` }], { "retry-after": String(wait) });
}

/** The messages of the request, checked and mapped; throws (nothing enqueued) if any of them is refused. */
function acceptMessages(path: SegmentPath, body: Record<string, unknown>, receivedAt: number): Accepted[] {
  let list: { type: unknown; message: unknown; field: string }[];
  if (path === "batch") {
    if (!Array.isArray(body.batch)) throw ApiError.of(400, "invalid_json", "The body must be {\"batch\": [ … ]}.", "batch");
    list = body.batch.map((message, i) => ({ type: isPlainObject(message) ? message.type : undefined, message, field: `batch[${i}]` }));
  } else {
    list = [{ type: path, message: body, field: "" }];
  }
  const accepted: Accepted[] = [];
  const errors: ErrorDetail[] = [];
  for (const { type, message, field } of list) {
    if (!isPlainObject(message)) {
      errors.push({ code: "validation_failed", message: "Each message must be a JSON object.", field });
      continue;
    }
    // The message is stored (under `segment`): what could not be stored as sent is refused, not silently changed
    // — and junk nested past SQLite's JSON limit would fail the group commit of every request sharing it. Checked
    // before the size: re-serialising a message nested tens of thousands deep would overflow the stack.
    const problem = unstorable(message, MAX_MESSAGE_DEPTH);
    if (problem) {
      errors.push({ code: "validation_failed", message: problem, field: field || "body" });
      continue;
    }
    // Re-serialising costs a little, but it is the size the message will have in the queue.
    if (path === "batch" && Buffer.byteLength(JSON.stringify(message)) > MAX_MESSAGE_BYTES) throw tooLarge(MAX_MESSAGE_BYTES, field);
    const mapped = mapMessage(typeof type === "string" ? type : "", message, body.sentAt, receivedAt);
    if (mapped.kind !== "ignored") {
      accepted.push({ kind: mapped.kind, payload: JSON.stringify(mapped.payload), key: mapped.messageId === undefined ? undefined : keyOf(mapped.messageId) });
    }
  }
  if (errors.length > 0) throw new ApiError(422, errors.slice(0, MAX_REPORTED_ERRORS));
  return accepted;
}

/**
 * Drops the repeats of a messageId within the request (the first one stays), then commits the messages with
 * their keys. A message whose key is already stored (accepted in the last 24 h) is skipped inside the commit
 * (src/ingest/commit-jobs.ts `KeyedRows`), where the keys' pages are warm: looked up beforehand on the main
 * thread's read connection, whose page cache every commit of the writer drops, the lookup cost more than the
 * rest of the request (docs/benchmarks.md, "Twelfth session").
 */
async function enqueue(deps: SegmentDeps, projectId: string, accepted: Accepted[], receivedAt: number): Promise<void> {
  const keys = new Set<string>();
  const rows: Accepted[] = [];
  for (const a of accepted) {
    if (a.key !== undefined) {
      if (keys.has(a.key)) continue;
      keys.add(a.key);
    }
    rows.push(a);
  }
  const release = await deps.claims.claim(projectId, [...keys]);
  try {
    await deps.writer.enqueue({ projectId, source: "segment", receivedAt, groups: [], keyed: { rows, record: MESSAGE_KEY_RECORD } });
  } finally {
    release();
  }
}

function errorResponse(error: unknown, path: SegmentPath, request: Request): Response {
  if (error instanceof ApiError) return Response.json(error.body(), { status: error.status, headers: { ...JSON_HEADERS, ...error.headers } });
  const requestId = crypto.randomUUID();
  log.error("segment request failed", { requestId, path, method: request.method, error });
  return Response.json({ errors: [{ code: "server_error", message: `Internal error (request ${requestId}).` }] }, { status: 500, headers: JSON_HEADERS });
}
