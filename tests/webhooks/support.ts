import type { WebhookEnv } from "../../src/webhooks";
import type { World } from "../drafts/support";

export const SECRET = "whsec_test_0123456789abcdef";

export type Received = { at: number; body: string; headers: Headers; path: string };

/** What the receiver answers: a status, or a status after a delay (ms), per request in arrival order. */
export type Reply = number | { status: number; delayMs?: number; headers?: Record<string, string> };

/**
 * A real HTTP endpoint (Bun.serve on a free port) that records every request verbatim and answers from a script:
 * `replies[i]` for the i-th request, then `fallback`. `inFlight`/`maxInFlight` show concurrency.
 */
export function startReceiver(replies: Reply[] = [], fallback: Reply = 200) {
  const received: Received[] = [];
  const state = { replies, fallback, inFlight: 0, maxInFlight: 0 };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      try {
        const body = await req.text();
        const reply = state.replies[received.length] ?? state.fallback;
        received.push({ at: Date.now(), body, headers: req.headers, path: new URL(req.url).pathname });
        const r = typeof reply === "number" ? { status: reply } : reply;
        // A delayed answer is given up on when the client gives up (its timeout, a stop), as a real server would.
        if (r.delayMs) await Promise.race([Bun.sleep(r.delayMs), new Promise((ok) => req.signal.addEventListener("abort", ok))]);
        return new Response("ok", { status: r.status, headers: r.headers });
      } finally {
        state.inFlight--;
      }
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    received,
    state,
    bodies: () => received.map((r) => JSON.parse(r.body) as { type: string; id: string; created: string; data: Record<string, unknown> }),
    stop: () => server.stop(true),
  };
}
export type Receiver = ReturnType<typeof startReceiver>;

/** A `[[projects.webhooks]]` block. */
export function endpointToml(url: string, events: string[], secret = SECRET): string {
  return `[[projects.webhooks]]\nurl = "${url}"\nsecret = "${secret}"\nevents = [${events.map((e) => JSON.stringify(e)).join(", ")}]\n`;
}

/** The webhook service's environment of a world (tests drive `deliverDue` by hand). */
export function webhookEnv(w: World): WebhookEnv {
  const service = w.server.ctx.services.find((s) => s.name === "webhooks") as unknown as { env: WebhookEnv };
  return service.env;
}
