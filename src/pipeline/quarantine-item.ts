import { toWellFormed } from "../ingest/rules";
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
    // Text columns hold only well-formed text (libSQL cannot read back a lone surrogate stored as invalid UTF-8):
    // a detail quoting a hostile key, or a cut through a surrogate pair, is made well-formed.
    detail: toWellFormed(why.detail.slice(0, 2000)),
    kind: row.kind === "identify" ? "identify" : "track",
    source: row.source,
    payload: row.payload,
    externalUserId: peek.externalUserId,
    eventName: peek.eventName,
    receivedAt: row.receivedAt,
  };
}
