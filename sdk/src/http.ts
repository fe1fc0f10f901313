import { randomUUID } from "node:crypto";
import { NetworkError, RateLimitError, ServerError, VibeFollowError, errorFromResponse } from "./errors.js";
import { SDK_VERSION } from "./version.js";

/** The subset of `fetch` the SDK needs; pass your own to add tracing or to test. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface HttpClientOptions {
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
  maxRetries: number;
  fetchImpl: FetchLike;
  /** First backoff ceiling; doubles per retry up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /**
   * A `Retry-After` longer than this is not waited out inside the call: the RateLimitError is thrown
   * so the caller can decide (blocking a request for minutes helps nobody).
   */
  maxRetryAfterMs?: number;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** What the server answered with, minus the envelope. */
export interface ApiResponse<T> {
  status: number;
  data: T;
  meta: Record<string, unknown> | undefined;
}

export interface RequestOptions {
  /** Reuse a key across separate calls (the batcher does, when it re-sends a failed chunk). */
  idempotencyKey?: string;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Sends one logical API call: JSON body, auth, timeout per attempt, and retries of network errors,
 * 5xx and 429 with one Idempotency-Key for all attempts, so the server applies the call at most once.
 */
export class HttpClient {
  private readonly opts: Required<HttpClientOptions>;

  constructor(options: HttpClientOptions) {
    this.opts = {
      baseDelayMs: 500,
      maxDelayMs: 8_000,
      maxRetryAfterMs: 60_000,
      sleep: defaultSleep,
      random: Math.random,
      ...options,
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
    };
  }

  async post<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const idempotencyKey = options.idempotencyKey ?? randomUUID();
    const payload = JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt<T>(path, payload, idempotencyKey);
      } catch (err) {
        const delay = this.retryDelay(err, attempt);
        if (delay === undefined) throw err;
        await this.opts.sleep(delay);
      }
    }
  }

  /** Milliseconds to wait before the next attempt, or undefined when the error must be thrown. */
  retryDelay(err: unknown, attempt: number): number | undefined {
    if (attempt >= this.opts.maxRetries || !isRetryable(err)) return undefined;
    const retryAfterMs = err instanceof RateLimitError || err instanceof ServerError ? err.retryAfterMs : undefined;
    if (retryAfterMs !== undefined) return retryAfterMs <= this.opts.maxRetryAfterMs ? retryAfterMs : undefined;
    // Full jitter (random in [0, ceiling)): spreads out clients that failed together.
    const ceiling = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** attempt);
    return Math.floor(this.opts.random() * ceiling);
  }

  private async attempt<T>(path: string, payload: string, idempotencyKey: string): Promise<ApiResponse<T>> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.opts.timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await untilAborted(controller.signal, this.opts.fetchImpl(this.opts.baseUrl + path, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${this.opts.apiKey}`,
          "Content-Type": "application/json",
          Accept: "application/json",
          "User-Agent": `vibefollow-sdk/${SDK_VERSION}`,
          "Idempotency-Key": idempotencyKey,
        },
        body: payload,
        signal: controller.signal,
      }));
      // Read the body under the same timer: a connection can also stall or drop mid-body.
      text = await untilAborted(controller.signal, response.text());
    } catch (err) {
      if (controller.signal.aborted) {
        throw new NetworkError(`Request to ${path} timed out after ${this.opts.timeoutMs} ms`, "timeout", { cause: err });
      }
      throw new NetworkError(`Request to ${path} failed: ${describe(err)}`, "network_error", { cause: err });
    } finally {
      clearTimeout(timer);
    }

    const body = parseJson(text);
    if (response.ok) {
      const envelope = (body ?? {}) as { data?: T; meta?: Record<string, unknown> };
      return { status: response.status, data: envelope.data as T, meta: envelope.meta };
    }
    throw errorFromResponse(response.status, body, parseRetryAfter(response.headers.get("retry-after")));
  }
}

// 409 idempotency_key_in_use means our own earlier attempt (e.g. one that timed out on our side) is
// still running on the server: waiting and asking again is exactly right, unlike other 409s.
function isRetryable(err: unknown): boolean {
  if (err instanceof NetworkError || err instanceof ServerError || err instanceof RateLimitError) return true;
  return err instanceof VibeFollowError && err.status === 409 && err.code === "idempotency_key_in_use";
}

/** `Retry-After` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

// Races the abort too, so the timeout holds even for a fetchImpl (or body stream) that ignores the signal.
function untilAborted<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error("aborted"));
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
}
