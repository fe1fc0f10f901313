import { newId } from "../lib/ids";
import { peekPayload } from "./normalise";
import type { Rejection } from "./reasons";
import type { QuarantineInsert } from "./writes";

/** One row of `ingest_queue` (docs/architecture.md: the ingest → normaliser contract). */
export type QueueRow = { seq: number; projectId: string; kind: string; source: string; payload: string; receivedAt: number };

export function quarantineItem(row: Omit<QueueRow, "seq">, why: Rejection): QuarantineInsert {
  const peek = peekPayload(row.payload);
  return {
    id: newId("qtn"),
    projectId: row.projectId,
    reason: why.reason,
    detail: why.detail.slice(0, 2000),
    kind: row.kind === "identify" ? "identify" : "track",
    source: row.source,
    payload: row.payload,
    externalUserId: peek.externalUserId,
    eventName: peek.eventName,
    receivedAt: row.receivedAt,
  };
}
