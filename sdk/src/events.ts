import { EventBatcher, type BatchOptions } from "./batcher.js";
import { ValidationError } from "./errors.js";
import type { HttpClient } from "./http.js";
import { toBulkResult, type Accepted, type BulkResult } from "./results.js";
import type { PropertiesFor } from "./standard-events.js";
import { buildEvent, type Properties } from "./validate.js";

export interface TrackOptions {
  /** When it happened (default: when the server receives it). Not more than 24 h in the future. */
  timestamp?: Date | string;
}

/** One record of `events.bulk`: the user as `userId` (as `track` takes it) or as the API's `external_user_id`. */
export type BulkEvent = { name: string; properties?: Properties; timestamp?: Date | string } & ({ userId: string } | { external_user_id: string });

export const BULK_LIMIT = 1000;

/**
 * The arguments after `userId`: `properties` is required when the event has required properties (a canonical
 * `feature_used` needs `feature`), optional otherwise — so TypeScript catches a missing one, not only run time.
 */
export type TrackArgs<N extends string> = {} extends PropertiesFor<N>
  ? [properties?: PropertiesFor<N>, options?: TrackOptions]
  : [properties: PropertiesFor<N>, options?: TrackOptions];

export class Events {
  constructor(private readonly http: HttpClient) {}

  /**
   * Records that a user did something. Canonical names (`STANDARD_EVENT_NAMES`) are checked
   * against their required properties before sending.
   *
   * @example
   * await vf.events.track("report_exported", "user_123", { format: "csv" });
   */
  async track<N extends string>(name: N, userId: string, ...[properties, options = {}]: TrackArgs<N>): Promise<Accepted> {
    const event = buildEvent(name, userId, properties, options.timestamp);
    const res = await this.http.post<Accepted>("/api/v1/events", event);
    return res.data;
  }

  /**
   * Sends up to 1,000 events in one request, for backfills. Each record succeeds or fails on its
   * own: the result lists the refused ones, so they are not validated here. Use `chunk()` for more.
   *
   * @example
   * const result = await vf.events.bulk([{ name: "feature_used", userId: "u1", properties: { feature: "export" } }]);
   */
  async bulk(events: readonly BulkEvent[]): Promise<BulkResult> {
    if (!Array.isArray(events) || events.length === 0 || events.length > BULK_LIMIT) {
      throw new ValidationError(`must hold 1 to ${BULK_LIMIT} events; split larger sets with chunk()`, "events");
    }
    // Not validated per record here (as identifyBulk): the server reports each refused record in `errors`,
    // and accepts the others. A Date becomes its ISO text.
    const body = {
      events: events.map((e) => ({
        external_user_id: "userId" in e ? e.userId : e.external_user_id,
        name: e.name,
        properties: e.properties ?? {},
        ...(e.timestamp === undefined ? {} : { timestamp: e.timestamp instanceof Date && !Number.isNaN(e.timestamp.getTime()) ? e.timestamp.toISOString() : String(e.timestamp) }),
      })),
    };
    const res = await this.http.post<unknown>("/api/v1/events/bulk", body);
    return toBulkResult(res.data, res.meta, events.length);
  }

  /**
   * A buffer that collects events with a synchronous `track()` and posts them together to
   * `/api/v1/events/batch` when `maxSize` are queued or `maxAgeMs` after the first one.
   *
   * @example
   * const batch = vf.events.batch({ maxSize: 200 });
   * batch.track("feature_used", "u1", { feature: "search" });
   * await batch.flush(); // before shutdown
   */
  batch(options: BatchOptions = {}): EventBatcher {
    return new EventBatcher(this.http, options);
  }
}
