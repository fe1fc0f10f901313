import { finished, Readable } from "node:stream";

/**
 * Runs once the server took DATA and the whole body; the final dot waits for it. It may release the dot itself
 * (`releaseDot`, which resolves once the dot is written to the connection, or after RELEASE_WAIT_CAP_MS) — to send it before anything else
 * runs, e.g. while still holding the lock its commit took; otherwise the dot goes when it resolves. If it rejects
 * without having released the dot, the dot is withheld and the server discards the message.
 */
export type BeforeFinalDot = (releaseDot: () => Promise<void>) => Promise<void>;

/** The longest `releaseDot` waits for the dot to reach the connection (normally well under a millisecond). */
const RELEASE_WAIT_CAP_MS = 250;

/**
 * An SMTP server takes responsibility for a message only when it reads the `<CRLF>.<CRLF>` that ends DATA
 * (RFC 5321 §4.1.1.4); a connection that drops before it makes the server discard the partial message. So a
 * message whose final dot never left this process cannot have been delivered, and re-sending it after a crash
 * cannot duplicate it. This gate lets the sender commit "handed over" in exactly that place.
 *
 * Where it sits: nodemailer pipes a raw message into its MIME output stream as soon as the message is queued
 * on a pooled connection — before MAIL FROM — and only pipes that output into the connection's DataStream
 * once the server answered DATA with 354. The DataStream writes the final dot in its flush, i.e. when its
 * source ends. The gate is the last stage of that output (a "stream" plugin's processFunc), so:
 *  - its first read comes from the DataStream pipe, after RCPT was accepted and DATA answered 354; a message
 *    refused earlier (a 5.1.1 bounce) destroys the gate unread and `beforeFinalDot` never runs;
 *  - `beforeFinalDot` runs once the whole body has been taken downstream, so after it only the dot is left;
 *  - the gate ends — releasing the final dot — only when `beforeFinalDot` releases it or resolves; if that
 *    rejects first, the gate is destroyed, nodemailer closes the connection mid-DATA and the server drops the
 *    message.
 */
export function gateFinalDot(input: Readable, beforeFinalDot: BeforeFinalDot): Readable {
  let started = false;
  let hookStarted = false;
  let released: Promise<void> | undefined;
  const releaseDot = () =>
    (released ??= new Promise<void>((resolve) => {
      // `finished` once the consumer read the end (or the stream died). The pipe then ends the DataStream, which
      // writes the dot to the socket in the same turn (nextTicks); setImmediate runs after all of them. Capped,
      // so a caller holding a lock never waits on a stalled connection.
      const cap = setTimeout(resolve, RELEASE_WAIT_CAP_MS);
      finished(gate, () => setImmediate(() => (clearTimeout(cap), resolve())));
      gate.push(null);
    }));
  // The hook runs once the whole body has been taken downstream, so only the dot is left to go after it. Called
  // only once the input has ended.
  const runHookOnceDrained = () => {
    if (hookStarted || gate.readableLength > 0) return;
    hookStarted = true;
    beforeFinalDot(releaseDot).then(
      () => void releaseDot(),
      (error: unknown) => {
        if (!released) gate.destroy(error instanceof Error ? error : new Error(String(error)));
      },
    );
  };
  const gate: Readable = new Readable({
    read() {
      if (started) return;
      started = true;
      // The whole .eml is already in memory (it is the stored row), so it is passed on without back-pressure.
      input.on("data", (chunk: Buffer) => gate.push(chunk));
      input.once("end", () => {
        // From now on each chunk the consumer takes may be the body's last (listening earlier would start the
        // flow before the connection pipes it; now it is piped, and a paused pipe stays paused).
        gate.on("data", runHookOnceDrained);
        runHookOnceDrained();
      });
    },
    destroy(error, callback) {
      input.destroy();
      callback(error);
    },
  });
  input.once("error", (error) => gate.destroy(error));
  return gate;
}
