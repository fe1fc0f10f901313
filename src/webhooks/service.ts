import type { Config } from "../config/schema";
import type { Service } from "../context";
import type { Database } from "../db/client";
import type { DeliveryState } from "../db/schema/webhooks";
import { now } from "../lib/clock";
import { log } from "../lib/log";
import { setWebhookEndpoints } from "./enqueue";
import { ShutdownAbort, postOnce } from "./post";
import { claimDue, finishAttempt, purgeDelivered, recoverClaims, releaseClaim, type ClaimedDelivery } from "./queries";
import { signBody } from "./sign";
import { DEFAULT_TIMEOUT_MS, DELIVERED_KEEP_MS } from "./types";

export type WebhookEnv = {
  database: Database;
  config: Config;
  /** How long an attempt may take (SPEC §10: 10 s). Tests shorten it. */
  timeoutMs: number;
  /** Attempts in flight at once. */
  concurrency: number;
  /** How often due deliveries are looked for: between passes, and during one while attempts are in flight. */
  intervalMs: number;
  /** Aborted on stop: in-flight attempts are handed back untouched. */
  shutdown: AbortSignal;
};

export type AttemptOutcome = { id: string; attempt: number; state: DeliveryState | "released"; status: number | null; error?: string };

/** A claim older than this is an attempt whose process died: no live attempt lasts past its timeout. */
const staleAfter = (env: WebhookEnv) => env.timeoutMs + 60_000;

/** Attempts one endpoint may have in flight: a receiver that hangs until the timeout keeps the rest free. */
const perEndpoint = (env: WebhookEnv) => Math.ceil(env.concurrency / 2);

/**
 * Delivers what is due, at most `env.concurrency` attempts in flight (and half of them to one endpoint), until
 * nothing is due and nothing is in flight, or `keepGoing` turns false (then it waits for those in flight). What
 * falls due while attempts are in flight is claimed as soon as there is room, not after the slowest of them: one
 * endpoint that answers only at the timeout holds back no other. Under steady traffic one call lasts as long as
 * the traffic, so the service keeps no outcomes (`keep = false`). Never throws for a delivery's sake: each
 * outcome is recorded on its row; a failed claim stops claiming, and is thrown once the attempts in flight are
 * done. Tests call this by hand with a manual clock.
 */
export async function deliverDue(env: WebhookEnv, keepGoing: () => boolean = () => true, keep = true): Promise<AttemptOutcome[]> {
  const outcomes: AttemptOutcome[] = [];
  const inFlight = new Set<Promise<void>>();
  const perUrl = new Map<string, number>(); // attempts in flight by endpoint URL
  const count = (url: string, by: number) => {
    const n = (perUrl.get(url) ?? 0) + by;
    if (n > 0) perUrl.set(url, n);
    else perUrl.delete(url);
  };
  let claimError: unknown;
  for (;;) {
    const room = env.concurrency - inFlight.size;
    if (room > 0 && claimError === undefined && keepGoing()) {
      const share = { perEndpoint: perEndpoint(env), inFlight: perUrl };
      const claimed = await claimDue(env.database, room, staleAfter(env), share).catch((error: unknown) => {
        claimError = error;
        return [];
      });
      for (const d of claimed) {
        count(d.endpointUrl, 1);
        const p: Promise<void> = attempt(env, d)
          .then((o) => void (keep && outcomes.push(o)))
          .finally(() => {
            inFlight.delete(p);
            count(d.endpointUrl, -1);
          });
        inFlight.add(p);
      }
    }
    if (inFlight.size === 0) break;
    let poll: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([...inFlight, new Promise<void>((resolve) => (poll = setTimeout(resolve, env.intervalMs)))]);
    clearTimeout(poll);
  }
  if (claimError !== undefined) throw claimError;
  return outcomes;
}

async function attempt(env: WebhookEnv, d: ClaimedDelivery): Promise<AttemptOutcome> {
  const base = { id: d.id, attempt: d.attempts };
  try {
    const endpoint = env.config.projects.find((p) => p.id === d.projectId)?.webhooks.find((w) => w.url === d.endpointUrl);
    if (!endpoint) {
      // Without the endpoint there is no secret to sign with; kept as a dead letter, re-sendable if it returns.
      const error = "endpoint is no longer in the configuration";
      await finishAttempt(env.database, d, { ok: false, status: null, error }, true);
      return { ...base, state: "dead", status: null, error };
    }
    const headers = {
      "content-type": "application/json",
      "user-agent": "Vibefollow-Webhooks/1",
      "x-vibefollow-event": d.eventType,
      "x-vibefollow-delivery": d.id,
      "x-vibefollow-attempt": String(d.attempts),
      "x-vibefollow-signature": signBody(d.body, endpoint.secret, Math.floor(now() / 1000)),
    };
    const result = await postOnce(d.endpointUrl, d.body, headers, env.timeoutMs, env.shutdown);
    const state = await finishAttempt(env.database, d, result);
    if (state === "dead") log.warn("webhook dead-lettered", { id: d.id, project: d.projectId, host: new URL(d.endpointUrl).host, attempts: d.attempts });
    return result.ok ? { ...base, state, status: result.status } : { ...base, state, status: result.status, error: result.error };
  } catch (error) {
    if (error instanceof ShutdownAbort) {
      await releaseClaim(env.database, d);
      return { ...base, state: "released", status: null };
    }
    // A database error: the claim goes stale and the attempt is retried after restart or the stale limit.
    log.error("webhook attempt failed to record", { id: d.id, error });
    return { ...base, state: "pending", status: null, error: String(error) };
  }
}

/**
 * The delivery loop of SPEC §10 as a Service: every `intervalMs` it delivers what is due. On start, attempts a
 * crash left in flight are due again; on stop, attempts in flight are aborted and handed back (a receiver may
 * have seen one already — delivery is at-least-once by design).
 */
export function webhookService(deps: { database: Database; config: Config; intervalMs?: number; timeoutMs?: number; concurrency?: number }): Service & { env: WebhookEnv } {
  setWebhookEndpoints(deps.config.projects);
  let abort = new AbortController();
  const env: WebhookEnv = {
    database: deps.database,
    config: deps.config,
    timeoutMs: deps.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    concurrency: deps.concurrency ?? 8,
    intervalMs: deps.intervalMs ?? 500,
    shutdown: abort.signal,
  };
  let running = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let current: Promise<unknown> | undefined;
  const step = () => {
    if (!running) return;
    current = deliverDue(env, () => running, false)
      .catch((error) => log.error("webhook tick failed", { error }))
      .finally(() => {
        if (running) timer = setTimeout(step, env.intervalMs);
      });
  };
  // Delivered rows are only history: kept for DELIVERED_KEEP_MS, swept at start and hourly, on a timer of their
  // own (the delivery loop may not come round for as long as traffic keeps attempts in flight).
  let purgeTimer: ReturnType<typeof setInterval> | undefined;
  let purging: Promise<unknown> | undefined;
  const purge = () => {
    purging = purgeDelivered(deps.database, now() - DELIVERED_KEEP_MS).catch((error) => log.error("webhook purge failed", { error }));
  };
  return {
    name: "webhooks",
    env,
    async start() {
      abort = new AbortController();
      env.shutdown = abort.signal;
      const recovered = await recoverClaims(deps.database);
      if (recovered > 0) log.info("webhook attempts interrupted by a restart are due again", { count: recovered });
      running = true;
      step();
      purge();
      purgeTimer = setInterval(purge, 3_600_000);
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      clearInterval(purgeTimer);
      abort.abort();
      await Promise.all([current, purging]);
    },
  };
}
