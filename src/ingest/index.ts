/** The ingest capability's public surface (SPEC §3, §4). */
export { ingestRoutes, ingestWriterFor } from "./routes";
export { ingestCounters } from "./counters";
export { GroupCommitWriter, groupOf, type QueueGroup, type WriteJob } from "./writer";
export { STANDARD_EVENT_NAMES, CANONICAL_PROPERTIES, canonicalSpecs } from "./canonical";
export { parseIsoTimestamp, isReservedKey, isReservedName } from "./rules";
export { IdempotencyStore, IDEMPOTENCY_TTL_MS } from "./idempotency";
