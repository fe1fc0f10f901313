import { randomUUID } from "node:crypto";
import { NetworkError, RateLimitError, ServerError, VibeFollowError } from "./errors.js";
import type { TrackArgs } from "./events.js";
import type { HttpClient } from "./http.js";
import { buildEvent, type EventPayload } from "./validate.js";

/** The batch endpoint takes at most this many events per request (SPEC §3). */
export const BATCH_LIMIT = 500;
/** Bytes of events per request: under the server's 1 MiB body limit (SPEC §3), with room for the envelope. */
export const BATCH_BYTES = 1000 * 1024;
/** The longest a timer can wait (2^31 − 1 ms); a longer one would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

export interface BatchOptions {
  /** Flush as soon as this many events are queued, and send at most this many per request (default 100; at most 500 per request in any case). */
  maxSize?: number;
  /** Flush this long after the first event was queued (default 5000). */
  maxAgeMs?: number;
  /**
   * Called for every request of a flush that failed. `retained: true` means the events stay queued
   * and go out again with the same Idempotency-Key on the next flush (network, 5xx, 429); `false`
   * means the server refused them (4xx) and they were dropped. Without it, automatic flushes log
   * failures with console.error; `flush()` itself always rejects with the first error.
   */
  onError?: (error: VibeFollowError, events: readonly EventPayload[], retained: boolean) => void;
}

export interface FlushResult {
  /** Events the server accepted in this flush. */
  sent: number;
}

interface Chunk {
  events: EventPayload[];
  idempotencyKey: string;
}

/**
 * Collects events and posts them to `/api/v1/events/batch`. Flushes run one after another so
 * events reach the server in the order they were tracked.
 */
export class EventBatcher {
  private readonly maxSize: number;
  private readonly maxAgeMs: number;
  private readonly onError: BatchOptions["onError"];
  /** Queued events with their size as JSON (bytes) and when each was queued. */
  private queue: { event: EventPayload; bytes: number; at: number }[] = [];
  /** Requests that failed in a retryable way, kept with their key so a re-send cannot duplicate. */
  private retained: Chunk[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly http: HttpClient,
    options: BatchOptions,
  ) {
    const { maxSize = 100, maxAgeMs = 5000 } = options;
    if (!Number.isInteger(maxSize) || maxSize < 1) throw new RangeError(`maxSize must be a positive integer, got ${maxSize}`);
    if (!Number.isFinite(maxAgeMs) || maxAgeMs < 0 || maxAgeMs > MAX_TIMER_MS) throw new RangeError(`maxAgeMs must be between 0 and ${MAX_TIMER_MS}, got ${maxAgeMs}`);
    this.maxSize = maxSize;
    this.maxAgeMs = maxAgeMs;
    this.onError = options.onError;
  }

  /** Events waiting to be sent, including retained ones. */
  get size(): number {
    return this.queue.length + this.retained.reduce((n, c) => n + c.events.length, 0);
  }

  /** A request's worth of queued events: at most maxSize (and 500), and at most BATCH_BYTES of JSON. */
  private takeChunk(): EventPayload[] {
    const limit = Math.min(this.maxSize, BATCH_LIMIT);
    let n = 0;
    let bytes = 0;
    while (n < this.queue.length && n < limit && (n === 0 || bytes + this.queue[n]!.bytes <= BATCH_BYTES)) bytes += this.queue[n++]!.bytes;
    return this.queue.splice(0, n).map((q) => q.event);
  }

  /**
   * Queues one event. Synchronous: it validates now (throwing ValidationError) because one bad
   * event would make the server reject the whole batch later.
   */
  track<N extends string>(name: N, userId: string, ...[properties, options = {}]: TrackArgs<N>): void {
    const built = buildEvent(name, userId, properties, options.timestamp);
    // Stamp it now: the event happened at track(), not when the batch is flushed seconds later.
    built.timestamp ??= new Date().toISOString();
    // A snapshot, taken now: the caller may reuse or change its properties object after this returns.
    const json = JSON.stringify(built);
    this.queue.push({ event: JSON.parse(json) as EventPayload, bytes: Buffer.byteLength(json) + 1, at: Date.now() });
    // Every maxSize-th event sends a full batch; the flush takes only full batches (see send).
    if (this.queue.length % this.maxSize === 0) this.autoFlush("full");
    else this.startTimer();
  }

  /** Sends everything queued; resolves when the server has accepted it, rejects with the first error. */
  flush(): Promise<FlushResult> {
    return this.run("all");
  }

  private run(what: "all" | "full"): Promise<FlushResult> {
    this.clearTimer();
    const run = this.tail.then(() => this.send(what));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private autoFlush(what: "all" | "full"): void {
    this.run(what).catch((err: unknown) => {
      if (!this.onError) console.error(`[vibefollow] automatic batch flush failed: ${(err as Error).message}`);
    });
  }

  /** The age flush: maxAgeMs after the oldest queued event. */
  private startTimer(): void {
    if (this.queue.length === 0) return;
    // A retry timer is unref'd (see retryLater); fresh events must keep the process alive until sent.
    if (this.timer !== undefined) return void this.timer.ref?.();
    this.timer = setTimeout(() => this.autoFlush("all"), Math.max(0, this.queue[0]!.at + this.maxAgeMs - Date.now()));
  }

  private async send(what: "all" | "full"): Promise<FlushResult> {
    // A request carries at most maxSize events (and at most the endpoint's 500) — maxSize is the batch size — and
    // stays under the server's 1 MiB body limit. The flush that reaching maxSize starts takes whole batches only:
    // events tracked after them (in the same tick, before this ran) wait for their own maxSize or maxAgeMs.
    const chunks: Chunk[] = [...this.retained];
    const keep = what === "full" ? this.queue.length % this.maxSize : 0;
    while (this.queue.length > keep) chunks.push({ events: this.takeChunk(), idempotencyKey: randomUUID() });
    this.retained = [];
    // What stays waits maxAgeMs from its own oldest event (a timer set since run() may date from a sent one).
    this.clearTimer();
    this.startTimer();
    let sent = 0;
    let firstError: VibeFollowError | undefined;
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i]!;
      try {
        await this.http.post("/api/v1/events/batch", { events: c.events }, { idempotencyKey: c.idempotencyKey });
        sent += c.events.length;
      } catch (err) {
        const error = err instanceof VibeFollowError ? err : new VibeFollowError(String(err), 0, "unknown");
        firstError ??= error;
        const retain = isTransient(error);
        try {
          this.onError?.(error, c.events, retain);
        } catch {
          // A throwing callback must not derail the bookkeeping below (retained events would be lost).
        }
        if (retain) {
          // The server is struggling: stop here and keep this and later requests for the next flush.
          this.retained = chunks.slice(i);
          this.retryLater();
          break;
        }
      }
    }
    if (firstError) throw firstError;
    return { sent };
  }

  // Unref'd: a retry of retained events must not keep a process alive forever while the server is down.
  private retryLater(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.autoFlush("all"), Math.max(this.maxAgeMs, 1000));
    this.timer.unref?.();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function isTransient(err: VibeFollowError): boolean {
  return err instanceof NetworkError || err instanceof ServerError || err instanceof RateLimitError;
}
