import { Events } from "./events.js";
import { HttpClient, type FetchLike } from "./http.js";
import { Users } from "./users.js";
import { Webhooks } from "./webhooks.js";

export interface VibeFollowOptions {
  /** A project key, `sk_live_…` (the key decides the project). */
  apiKey: string;
  /** Where your Vibefollow server listens, e.g. `https://vf.example.com`. */
  baseUrl: string;
  /** Per attempt, including reading the response. Default 10000. */
  timeoutMs?: number;
  /** Extra attempts after a network error, 5xx or 429. Default 2 (so at most 3 requests). */
  maxRetries?: number;
  /** Defaults to the global `fetch`. */
  fetchImpl?: FetchLike;
}

/**
 * Client for a Vibefollow server's ingest API.
 *
 * @example
 * const vf = new VibeFollow({ apiKey: process.env.VF_API_KEY!, baseUrl: "https://vf.example.com" });
 * await vf.users.identify("user_123", { email: "ada@example.com" });
 * await vf.users.featureUsed("user_123", { feature: "export" });
 */
export class VibeFollow {
  readonly users: Users;
  readonly events: Events;
  readonly webhooks: Webhooks;

  constructor(options: VibeFollowOptions) {
    const { apiKey, baseUrl, timeoutMs = 10_000, maxRetries = 2, fetchImpl } = options ?? ({} as VibeFollowOptions);
    if (typeof apiKey !== "string" || apiKey === "") throw new TypeError("VibeFollow: apiKey is required");
    if (typeof baseUrl !== "string" || !/^https?:\/\//.test(baseUrl)) {
      throw new TypeError("VibeFollow: baseUrl must be an http(s) URL, e.g. https://vf.example.com");
    }
    // A timer cannot wait longer than 2^31 − 1 ms: a longer (or infinite) timeout would fire at once.
    if (!(timeoutMs > 0 && timeoutMs <= 2_147_483_647)) throw new RangeError(`VibeFollow: timeoutMs must be between 1 and 2147483647, got ${timeoutMs}`);
    if (!Number.isInteger(maxRetries) || maxRetries < 0) {
      throw new RangeError(`VibeFollow: maxRetries must be an integer >= 0, got ${maxRetries}`);
    }
    const http = new HttpClient({
      apiKey,
      baseUrl,
      timeoutMs,
      maxRetries,
      // Bound late so a test or APM agent that patches globalThis.fetch afterwards is still used.
      fetchImpl: fetchImpl ?? ((input, init) => globalThis.fetch(input, init)),
    });
    this.events = new Events(http);
    this.users = new Users(http, this.events);
    this.webhooks = new Webhooks();
  }
}
