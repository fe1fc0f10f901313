import { isPlainObject } from "../ingest/rules";
import { ANONYMOUS_PREFIX, isStorableTime, parseTime } from "../pipeline/normalise";
import { mapEventName } from "./names";
import { adaptProperties, adaptTraits } from "./properties";

/**
 * One Segment message → one queue payload in the ingest → normaliser contract (docs/architecture.md):
 * identify `{external_user_id, traits}`, track `{external_user_id, name, properties, timestamp}`, plus
 * `segment`: the message as received without its `traits`/`properties` (those are the mapped fields), so the
 * stored event keeps messageId, context, the original event name and times.
 *
 * Nothing here rejects a message for its content: a missing user, a missing event name or a bad timestamp is
 * passed on as is and the normaliser quarantines it with its reason (SPEC §5.3) — never silently dropped, and
 * one bad message does not lose the rest of a batch. So is a reserved name (`$autocapture`, `vf_…`): SPEC §3
 * refuses it on Vibefollow's own API, but a Segment client sends what its tools named, and answering the batch
 * 422 would lose every message in it (analytics-node does not retry a 422).
 */
export type Mapped =
  | { kind: "identify" | "track"; payload: Record<string, unknown>; messageId?: string }
  | { kind: "ignored" };

export const SEGMENT_TYPES = Object.freeze(["identify", "track", "page", "screen", "group", "alias"] as const);

/** A prefix that cannot collide with a Segment userId in practice (documented in docs/segment.md). */
export { ANONYMOUS_PREFIX };

function idOf(value: unknown): string | undefined {
  if (typeof value === "string" && value.length > 0) return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * Client clock skew: Segment's own rule, occurred = timestamp + (receivedAt − sentAt). A message that already
 * carries Segment's `receivedAt` is a replayed export whose `timestamp` was corrected once — it is kept as is.
 * An unparsable `timestamp` is passed on verbatim (the normaliser quarantines it); no `timestamp` means the
 * receive time (the normaliser's default).
 *
 * RudderStack's messages carry the client's time as `originalTimestamp` and no `timestamp` (its event spec):
 * without one, `originalTimestamp` is the time, corrected the same way (RudderStack's own rule is the same).
 */
export function correctTimestamp(message: Record<string, unknown>, batchSentAt: unknown, receivedAt: number): { value?: unknown; at?: number } {
  const sent = message.timestamp ?? message.originalTimestamp;
  if (sent == null) return {};
  const ts = parseTime(sent);
  if (ts === undefined) return { value: sent };
  const sentAt = message.receivedAt == null ? parseTime(message.sentAt ?? batchSentAt) : undefined;
  const at = sentAt === undefined ? ts : ts + (receivedAt - sentAt);
  if (!isStorableTime(at)) return { value: sent };
  return { value: new Date(at).toISOString(), at };
}

/**
 * An identify's traits: Segment sends them as `traits`; RudderStack's SDKs put them in `context.traits` (its
 * event spec), and send no `traits` at all from the browser. The top-level `traits` wins when both are there.
 */
function identifyTraits(message: Record<string, unknown>): unknown {
  if (message.traits != null) return message.traits;
  const context = message.context;
  return isPlainObject(context) && isPlainObject(context.traits) ? context.traits : message.traits;
}

function original(message: Record<string, unknown>): Record<string, unknown> {
  const { traits: _t, properties: _p, writeKey: _k, ...rest } = message;
  return rest;
}

export function mapMessage(type: string, message: Record<string, unknown>, batchSentAt: unknown, receivedAt: number): Mapped {
  if (type !== "identify" && type !== "track") return { kind: "ignored" };
  const messageId = idOf(message.messageId);
  const userId = idOf(message.userId);
  const anonymousId = idOf(message.anonymousId);
  // An anonymous identify would make a user nobody can address; Segment ties it to a user by `alias`, which
  // Vibefollow does not do — so it is accepted and ignored.
  if (type === "identify") {
    if (userId === undefined && anonymousId !== undefined) return { kind: "ignored" };
    const payload: Record<string, unknown> = { external_user_id: userId, traits: adaptTraits(identifyTraits(message)), segment: original(message) };
    return { kind: "identify", payload, messageId };
  }
  const externalUserId = userId ?? (anonymousId === undefined ? undefined : ANONYMOUS_PREFIX + anonymousId);
  const event = typeof message.event === "string" ? message.event : undefined;
  const name = event === undefined ? undefined : mapEventName(event);
  const time = correctTimestamp(message, batchSentAt, receivedAt);
  const properties = name === undefined ? message.properties : adaptProperties(name, event!, message.properties, time.at ?? (time.value === undefined ? receivedAt : undefined));
  const payload: Record<string, unknown> = { external_user_id: externalUserId, name, properties, timestamp: time.value, segment: original(message) };
  return { kind: "track", payload, messageId };
}
