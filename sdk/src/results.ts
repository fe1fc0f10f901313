/** Answer of the single-record endpoints: the request is durably queued on the server. */
export interface Accepted {
  accepted: true;
}

/** One record a bulk endpoint refused; `index` points into the array you sent. */
export interface BulkRecordError {
  index: number;
  code: string;
  message: string;
  field?: string;
}

/** Answer of `identifyBulk` and `events.bulk`: per-record outcome, nothing is all-or-nothing. */
export interface BulkResult {
  accepted: number;
  rejected: number;
  errors: BulkRecordError[];
  /** How many records the server received (`meta.received`). */
  received: number;
}

export function toBulkResult(data: unknown, meta: Record<string, unknown> | undefined, sent: number): BulkResult {
  const d = (data ?? {}) as Partial<BulkResult>;
  return {
    accepted: d.accepted ?? 0,
    rejected: d.rejected ?? 0,
    errors: d.errors ?? [],
    received: typeof meta?.received === "number" ? meta.received : sent,
  };
}
