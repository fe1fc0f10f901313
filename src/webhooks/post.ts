import type { AttemptResult } from "./queries";

/** Redirects followed within one attempt (docs/webhooks.md: "at most 3 hops"). */
const MAX_REDIRECTS = 3;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Raised through the abort signal when our own shutdown cuts an attempt short (not the endpoint's fault). */
export class ShutdownAbort extends Error {}

/**
 * POSTs a signed body once. Success is a 2xx before `timeoutMs` (the whole exchange up to the response
 * headers). Redirects are followed only within the same origin (scheme, host and port), re-POSTing the same
 * body: a webhook must never be walked to another host. Errors name the host, never the full URL — an endpoint
 * URL can carry a token in its path.
 */
export async function postOnce(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  shutdown: AbortSignal,
): Promise<AttemptResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  const onShutdown = () => controller.abort(new ShutdownAbort("shutting down"));
  shutdown.addEventListener("abort", onShutdown, { once: true });
  try {
    let target = new URL(url);
    for (let hop = 0; ; hop++) {
      const res = await fetch(target, { method: "POST", body, headers, redirect: "manual", signal: controller.signal });
      // The body is of no use to us; dropping it frees the connection.
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
      const location = res.headers.get("location");
      if (!REDIRECTS.has(res.status) || !location) return { ok: false, status: res.status, error: `HTTP ${res.status}` };
      const next = new URL(location, target);
      if (next.origin !== target.origin) {
        return { ok: false, status: res.status, error: `HTTP ${res.status}: redirect to another host (${next.host}) refused` };
      }
      // `hop` redirects followed so far: up to MAX_REDIRECTS of them, then a further one fails the attempt.
      if (hop >= MAX_REDIRECTS) return { ok: false, status: res.status, error: `HTTP ${res.status}: too many redirects` };
      target = next;
    }
  } catch (error) {
    const reason = controller.signal.aborted ? controller.signal.reason : error;
    if (reason instanceof ShutdownAbort) throw reason;
    return { ok: false, status: null, error: reason instanceof Error ? reason.message : String(reason) };
  } finally {
    clearTimeout(timer);
    shutdown.removeEventListener("abort", onShutdown);
  }
}
