import { connect } from "node:net";

/**
 * POSTs a chunked body that never ends (64 KiB chunks, up to `maxBytes`) over a raw socket and returns the
 * server's answer and how much had been sent when it came — so a test can tell a server that stops reading at
 * its limit from one that buffers the upload until the HTTP layer's own cap.
 */
export function endlessUpload(url: string, path: string, headers: Record<string, string>, maxBytes = 16 * 1024 * 1024): Promise<{ status: number; body: string; sentBytes: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = "";
    let sent = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      socket.destroy();
      const [head = "", body = ""] = answer.split("\r\n\r\n");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      // The answer itself may be chunked: keep the JSON between the chunk-size lines.
      const json = /^[0-9a-f]+\r\n/i.test(body) ? body.replace(/^[0-9a-f]+\r\n/i, "").replace(/\r\n0\r\n[\s\S]*$/, "").replace(/\r\n$/, "") : body;
      resolve({ status, body: json, sentBytes: sent });
    };
    socket.on("data", (d) => {
      answer += d.toString();
      if (answer.includes("\r\n\r\n")) setTimeout(finish, 100);
    });
    socket.on("error", (e) => (answer ? finish() : reject(e)));
    socket.on("close", () => (answer ? finish() : undefined));
    const head = Object.entries({ ...headers, host: hostname, "transfer-encoding": "chunked" }).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n`);
    const chunk = Buffer.alloc(64 * 1024, "a");
    // Honours backpressure: the next chunk goes only once the socket took the last one, so `sent` counts what the
    // server (or the kernel's buffers, a few MiB at most) took — not how long it took to answer (a first request
    // waits for the key's Argon2id check).
    const pump = () => {
      if (done || answer || sent >= maxBytes) {
        if (!answer && !done) setTimeout(() => (answer ? undefined : reject(new Error(`no answer after ${sent} bytes`))), 2_000);
        return;
      }
      socket.write(`${chunk.length.toString(16)}\r\n`);
      const flushed = socket.write(Buffer.concat([chunk, Buffer.from("\r\n")]));
      sent += chunk.length;
      if (flushed) setTimeout(pump, 1);
      else socket.once("drain", pump);
    };
    pump();
  });
}
