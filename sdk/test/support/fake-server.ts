import http from "node:http";
import type { AddressInfo } from "node:net";

/** One event the fake stored. */
export interface StoredEvent {
  external_user_id: string;
  name: string;
  properties?: Record<string, unknown>;
}

export interface FakeServer {
  url: string;
  /** Events stored once each — what a real server would have enqueued. */
  events: StoredEvent[];
  /** Requests received, replays included. */
  requests: number;
  close(): Promise<void>;
}

/**
 * A stand-in for the Vibefollow ingest API, just enough to watch the SDK over real sockets:
 * POST /api/v1/events with SPEC §3 idempotency (same key + body → replay, nothing stored twice),
 * except that an event named `never_answer` gets no response at all (for timeouts).
 */
export async function startFakeServer(): Promise<FakeServer> {
  const events: StoredEvent[] = [];
  const seen = new Map<string, string>();
  const hanging = new Set<http.ServerResponse>();
  let requests = 0;

  const server = http.createServer(async (req, res) => {
    requests++;
    let raw = "";
    for await (const chunk of req) raw += chunk;
    if (raw.includes('"never_answer"')) return void hanging.add(res);
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== "Bearer sk_live_fake") return reply(401, { errors: [{ code: "auth_required", message: "no" }] });
    const key = req.headers["idempotency-key"];
    if (typeof key === "string" && seen.has(key)) {
      if (seen.get(key) !== raw) return reply(409, { errors: [{ code: "idempotency_key_reuse", message: "reused" }] });
      return reply(202, { data: { accepted: true } });
    }
    if (typeof key === "string") seen.set(key, raw);
    events.push(JSON.parse(raw));
    reply(202, { data: { accepted: true } });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    events,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
