import type { RateLimitedEndpoint } from "../config/schema";
import { now } from "../lib/clock";

export type RateLimit = { per_second: number; burst: number };

/**
 * Token buckets per project and endpoint: `burst` requests at once, refilled at `per_second`. One request
 * costs one token whatever its size (a 500-event batch is one request). Uses `now()`, so tests can move time.
 */
export class RateLimiter {
  /** endpoint → project → bucket (nested maps: no key string built per request). */
  private readonly buckets = new Map<string, Map<string, { tokens: number; at: number }>>();

  constructor(private readonly limitFor: (endpoint: RateLimitedEndpoint) => RateLimit) {}

  /** Takes a token; returns 0 when allowed, else the seconds to wait before a retry (for `Retry-After`). */
  take(projectId: string, endpoint: RateLimitedEndpoint): number {
    const limit = this.limitFor(endpoint);
    let byProject = this.buckets.get(endpoint);
    if (!byProject) this.buckets.set(endpoint, (byProject = new Map()));
    const t = now();
    let bucket = byProject.get(projectId);
    if (!bucket) {
      bucket = { tokens: limit.burst, at: t };
      byProject.set(projectId, bucket);
    } else {
      bucket.tokens = Math.min(limit.burst, bucket.tokens + (Math.max(0, t - bucket.at) / 1000) * limit.per_second);
      bucket.at = t;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / limit.per_second));
  }
}
