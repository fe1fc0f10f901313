import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * Accepted requests waiting for the normaliser (SPEC §5.1). `seq` is the arrival order. One row per
 * acknowledged request item: a batch of 500 events is 500 rows written in one transaction.
 */
export const ingestQueue = sqliteTable(
  "ingest_queue",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    projectId: text("project_id").notNull(),
    /** `identify` | `track` — what the normaliser does with the payload. */
    kind: text("kind", { enum: ["identify", "track"] }).notNull(),
    /** Where it came from: `api`, `bulk`, `segment`, `replay`. Bulk items dedupe naturally (SPEC §3). */
    source: text("source").notNull(),
    /** The item as received (JSON text, verbatim). */
    payload: text("payload").notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  (t) => [index("ingest_queue_project").on(t.projectId)],
);

/** Idempotency keys per project, remembered 24 h (SPEC §3). */
export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    projectId: text("project_id").notNull(),
    key: text("key").notNull(),
    /** SHA-256 of method, path and body: the same key with another body is `idempotency_key_reuse`. */
    requestHash: text("request_hash").notNull(),
    status: integer("status").notNull(),
    responseBody: text("response_body").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.key] }), index("idempotency_keys_created").on(t.createdAt)],
);
