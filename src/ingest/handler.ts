import type { Database } from "../db/client";
import type { KeyVerifier, VerifiedKey } from "../keys/service";
import { now } from "../lib/clock";
import { ApiError } from "../lib/errors";
import { log } from "../lib/log";
import { parseObject, readBody } from "./body";
import { ingestCounters } from "./counters";
import type { Endpoint, Outcome } from "./endpoints";
import { IdempotencyStore, type StoredResponse } from "./idempotency";
import type { RateLimiter } from "./rate-limit";
import type { GroupCommitWriter } from "./writer";

export type IngestDeps = {
  database: Database;
  keys: KeyVerifier;
  limiter: RateLimiter;
  idempotency: IdempotencyStore;
  writer: GroupCommitWriter;
  backfillQueueLimit: number;
};

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };

/**
 * One ingest request, answered in the order of SPEC §3's checks: auth (401) → rate limit (429) → content type,
 * size and encoding (415/413/400) → idempotency (replay/409) → JSON and validation (400/422) → backfill limit
 * (429) → group commit → the response, written only after the commit. An Idempotency-Key is looked up inside
 * the commit when the request passes its checks (src/ingest/commit-jobs.ts), and before answering when it does
 * not: either way a stored key's answer comes first. Every answer is counted by endpoint and status.
 */
export async function handleIngest(deps: IngestDeps, endpoint: Endpoint, request: Request): Promise<Response> {
  let response: Response;
  try {
    response = await run(deps, endpoint, request);
  } catch (error) {
    response = errorResponse(error, endpoint, request);
  }
  ingestCounters.add(endpoint.name, response.status);
  return response;
}

async function run(deps: IngestDeps, endpoint: Endpoint, request: Request): Promise<Response> {
  // A key in the cache answers without a promise (each await on this path is a turn of the microtask queue).
  const auth = authenticate(deps.keys, request.headers.get("authorization"));
  const projectId = typeof auth === "string" ? auth : await auth;
  const wait = deps.limiter.take(projectId, endpoint.name);
  if (wait > 0) {
    throw new ApiError(429, [{ code: "rate_limited", message: `Too many requests; retry in ${wait} s.` }], { "retry-after": String(wait) });
  }
  const { text, bytes } = await readBody(request);
  const key = IdempotencyStore.parseKey(request.headers.get("idempotency-key"));
  if (key === undefined) {
    const outcome = endpoint.run(parseObject(text), text);
    if (endpoint.bulk) await checkBackfill(deps, projectId, outcome);
    await commit(deps, projectId, outcome);
    return answer(outcome);
  }

  if (!deps.idempotency.claim(projectId, key)) {
    throw ApiError.of(409, "idempotency_key_in_use", "A request with this Idempotency-Key is still in flight.");
  }
  try {
    const requestHash = IdempotencyStore.hashRequest(endpoint.path, bytes);
    let outcome: Outcome;
    try {
      outcome = endpoint.run(parseObject(text), text);
      if (endpoint.bulk) await checkBackfill(deps, projectId, outcome);
    } catch (error) {
      // Refused before its commit (JSON, validation, a full backfill queue), the request may still be the retry
      // of one already answered: SPEC §3 looks at the key first. Only this path looks it up before committing.
      const stored = error instanceof ApiError ? await deps.idempotency.find(projectId, key) : undefined;
      if (stored) return replay(stored, requestHash);
      throw error;
    }
    // The commit looks the key up (src/ingest/commit-jobs.ts): a key already stored writes nothing.
    const stored = await commit(deps, projectId, outcome, { key, requestHash });
    return stored ? replay(stored, requestHash) : answer(outcome);
  } finally {
    deps.idempotency.release(projectId, key);
  }
}

/** The stored answer to a key's first request, for a retry with the same body; `409` for a different body. */
function replay(stored: StoredResponse, requestHash: string): Response {
  if (stored.requestHash !== requestHash) {
    throw ApiError.of(409, "idempotency_key_reuse", "This Idempotency-Key was used with a different request body.");
  }
  return new Response(stored.responseBody, { status: stored.status, headers: { ...JSON_HEADERS, "idempotent-replayed": "true" } });
}

/** The project of the request's API key: at once for a key verified recently (the cache), else once verified. */
function authenticate(keys: KeyVerifier, header: string | null): string | Promise<string> {
  const match = header === null ? null : /^Bearer +(\S+) *$/i.exec(header);
  if (!match) throw unauthorized();
  const verified = keys.authorize(match[1]!);
  return verified instanceof Promise ? verified.then(projectOf) : projectOf(verified);
}

function projectOf(verified: VerifiedKey | undefined): string {
  if (!verified) throw unauthorized();
  return verified.projectId;
}

const unauthorized = () =>
  new ApiError(401, [{ code: "auth_required", message: "Send a valid API key as Authorization: Bearer sk_live_…" }], { "www-authenticate": "Bearer" });

/** Commits the accepted rows and the key's record; resolves with the stored record when the key was already used. */
function commit(deps: IngestDeps, projectId: string, outcome: Outcome, idem?: { key: string; requestHash: string }): Promise<StoredResponse | undefined> {
  if (outcome.groups.length === 0 && !idem) return Promise.resolve(undefined);
  return deps.writer.enqueue({
    projectId,
    source: outcome.source,
    receivedAt: now(),
    groups: outcome.groups,
    idempotency: idem && { ...idem, status: outcome.status, responseBody: outcome.body },
  });
}

const answer = (outcome: Outcome) => new Response(outcome.body, { status: outcome.status, headers: JSON_HEADERS });

/** Bulk (backfill) traffic with items to enqueue waits while the project already has `backfill_queue_limit` items
 * queued. */
async function checkBackfill(deps: IngestDeps, projectId: string, outcome: Outcome): Promise<void> {
  if (outcome.groups.length === 0) return;
  // Counting stops at the limit: a long queue costs no more than the limit's worth of index entries.
  const result = await deps.database.read({
    sql: "SELECT count(*) AS n FROM (SELECT 1 FROM ingest_queue WHERE project_id = ? LIMIT ?)",
    args: [projectId, deps.backfillQueueLimit],
  });
  if (Number(result.rows[0]!.n) >= deps.backfillQueueLimit) {
    throw new ApiError(429, [{ code: "backfill_queue_full", message: "The project's queue is full; retry the bulk request later." }], { "retry-after": "5" });
  }
}

function errorResponse(error: unknown, endpoint: Endpoint, request: Request): Response {
  if (error instanceof ApiError) return Response.json(error.body(), { status: error.status, headers: { ...JSON_HEADERS, ...error.headers } });
  const requestId = crypto.randomUUID();
  log.error("ingest request failed", { requestId, endpoint: endpoint.name, method: request.method, error });
  return Response.json({ errors: [{ code: "server_error", message: `Internal error (request ${requestId}).` }] }, { status: 500, headers: JSON_HEADERS });
}
