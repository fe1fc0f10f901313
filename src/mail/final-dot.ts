import { Readable } from "node:stream";

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
 *  - it ends — releasing the final dot — only after `beforeFinalDot` resolved; if that rejects, the gate is
 *    destroyed, nodemailer closes the connection mid-DATA and the server drops the message.
 */
export function gateFinalDot(input: Readable, beforeFinalDot: () => Promise<void>): Readable {
  let started = false;
  const gate: Readable = new Readable({
    read() {
      if (started) return;
      started = true;
      // The whole .eml is already in memory (it is the stored row), so it is passed on without back-pressure.
      input.on("data", (chunk: Buffer) => gate.push(chunk));
      input.once("end", () => {
        beforeFinalDot().then(
          () => gate.push(null),
          (error: unknown) => gate.destroy(error instanceof Error ? error : new Error(String(error))),
        );
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
