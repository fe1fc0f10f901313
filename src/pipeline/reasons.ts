import { formatDuration } from "../lib/durations";

/**
 * Why an item went to quarantine (SPEC §5.3). Machine-readable, stable: the dashboard, the CLI and the
 * `quarantine.added` webhook show them as they are. docs/pipeline.md explains each.
 */
export const QUARANTINE_REASONS = [
  /** The payload is not JSON, or lacks what its kind needs (external_user_id, name, objects where objects go). */
  "invalid_payload",
  /** `timestamp` is not an ISO 8601 time (or a number of milliseconds). */
  "invalid_timestamp",
  /** Two spellings of one key (`workspaceId` and `workspace_id`) with different values. */
  "ambiguous_key",
  /** A canonical event's property is missing or of the wrong type (SPEC §4), or yields a time out of range. */
  "invalid_property",
  /** A known trait cannot be stored in its column (a non-string name, an unparseable signup_date, a bad email). */
  "invalid_trait",
  /** An event of a user never identified, still waiting when the project's `buffer_ttl` ran out. */
  "unknown_user",
  /** The item's project is no longer in the configuration. */
  "unknown_project",
  /** Storing the item failed for a reason of its own (the database refused a value); `detail` has the error. */
  "apply_failed",
] as const;

export type QuarantineReason = (typeof QUARANTINE_REASONS)[number];

export const QUARANTINE_STATES = ["open", "replayed", "discarded"] as const;
export type QuarantineState = (typeof QUARANTINE_STATES)[number];

/** A reason and a one-line human explanation: what `normalise*` returns instead of throwing. A class, so
 * that no user-supplied object (a property bag with `reason` and `detail` keys) can pass for one. */
export class Rejection {
  constructor(
    readonly reason: QuarantineReason,
    readonly detail: string,
  ) {}
}

export function reject(reason: QuarantineReason, detail: string): Rejection {
  return new Rejection(reason, detail);
}

/** An event whose user was not identified within the project's `buffer_ttl` (the sweep's and the identify's). */
export function unknownUser(externalUserId: string, bufferTtlMs: number): Rejection {
  return reject("unknown_user", `no identify for "${externalUserId}" within buffer_ttl (${formatDuration(bufferTtlMs)})`);
}
