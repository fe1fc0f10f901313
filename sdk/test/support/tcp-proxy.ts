import net from "node:net";

/**
 * What the proxy does with one client connection:
 * - `forward`: pipe bytes both ways.
 * - `drop-after-forward`: pass the request on, wait until the server starts answering (so the server
 *   has processed it), then cut the client off without the answer — the classic lost response.
 * - `respond-429`: never reach the server; answer `429` with `Retry-After: <retryAfterSec>` and close.
 */
export type ConnectionPolicy = "forward" | "drop-after-forward" | "respond-429";

export interface TcpProxy {
  /** `http://127.0.0.1:<port>` plus the target's path prefix. */
  url: string;
  /** Connections accepted so far. */
  connections(): number;
  /** Idempotency-Key of every request seen, in order. */
  idempotencyKeys(): string[];
  /** Connections whose upstream answered, by index, with the status line the server sent. */
  upstreamStatus(index: number): number | undefined;
  close(): Promise<void>;
}

/** Starts a byte-level proxy to `target` (http only) whose n-th connection follows `policyFor(n)`. */
export async function startTcpProxy(
  target: string,
  policyFor: (index: number) => ConnectionPolicy,
  options: { retryAfterSec?: number } = {},
): Promise<TcpProxy> {
  const upstreamUrl = new URL(target);
  if (upstreamUrl.protocol !== "http:") throw new Error(`startTcpProxy: only http:// targets, got ${target}`);
  const port = Number(upstreamUrl.port || 80);
  const sockets = new Set<net.Socket>();
  const keys: string[] = [];
  const statuses = new Map<number, number>();
  let count = 0;

  const server = net.createServer((client) => {
    const index = count++;
    const policy = policyFor(index);
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    let seen = "";
    client.on("data", (chunk: Buffer) => {
      seen += chunk.toString("latin1");
      // Collect keys as complete header lines arrive (a keep-alive socket may carry several requests).
      for (const m of seen.matchAll(/^idempotency-key:\s*(\S+)\r\n/gim)) keys.push(m[1]!);
      seen = seen.slice(Math.max(0, seen.lastIndexOf("\r\n")));
    });

    if (policy === "respond-429") {
      let request = Buffer.alloc(0);
      client.on("data", (chunk: Buffer) => {
        request = Buffer.concat([request, chunk]);
        if (!isCompleteRequest(request)) return;
        const body = JSON.stringify({ errors: [{ code: "rate_limited", message: "Too many requests (test proxy)" }] });
        client.end(
          "HTTP/1.1 429 Too Many Requests\r\n" +
            `Retry-After: ${options.retryAfterSec ?? 1}\r\n` +
            "Content-Type: application/json\r\n" +
            `Content-Length: ${Buffer.byteLength(body)}\r\n` +
            "Connection: close\r\n\r\n" +
            body,
        );
      });
      return;
    }

    const upstream = net.connect(port, upstreamUrl.hostname);
    sockets.add(upstream);
    upstream.on("close", () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    client.pipe(upstream);
    upstream.once("data", (chunk: Buffer) => {
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString("latin1"));
      if (status) statuses.set(index, Number(status[1]));
    });
    if (policy === "drop-after-forward") {
      upstream.once("data", () => {
        upstream.destroy();
        client.destroy();
      });
    } else {
      upstream.pipe(client);
    }
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port: localPort } = server.address() as net.AddressInfo;
  const prefix = upstreamUrl.pathname.replace(/\/+$/, "");
  return {
    url: `http://127.0.0.1:${localPort}${prefix}`,
    connections: () => count,
    idempotencyKeys: () => [...keys],
    upstreamStatus: (index) => statuses.get(index),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// Enough HTTP/1.1 parsing for a fetch POST: headers, then a Content-Length or chunked body.
function isCompleteRequest(buf: Buffer): boolean {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const head = buf.subarray(0, end).toString("latin1");
  if (/^transfer-encoding:\s*chunked/im.test(head)) return buf.subarray(-5).toString("latin1") === "0\r\n\r\n";
  const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
  return buf.length >= end + 4 + length;
}
