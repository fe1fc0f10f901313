import { afterAll, expect, test } from "bun:test";
import { parseConfigText } from "../../src/config/load";
import { Readable, Writable } from "node:stream";
import { gateFinalDot } from "../../src/mail/final-dot";
import { Messengers } from "../../src/mail/transport";
import { startSmtpSink } from "./smtp-sink";

const sink = await startSmtpSink();
const config = parseConfigText(`[database]\nurl = "file::memory:"\n[smtp]\nurl = "${sink.url}"\nmax_connections = 1\n[[projects]]\nid = "acme"\nname = "Acme"\n`);
const messengers = new Messengers(config);
const smtp = messengers.forProject(config.projects[0]!);
afterAll(async () => {
  messengers.close();
  await sink.close();
});

const eml = (n: string) => `From: Acme <team@acme.test>\r\nTo: ${n}@example.com\r\nSubject: hi\r\nMessage-ID: <${n}@acme.test>\r\n\r\nHello\r\n.a line starting with a dot\r\n`;

test("the final dot waits for beforeFinalDot: the server has the message only once the hook has finished", async () => {
  const seen: number[] = [];
  const { response } = await smtp.send({
    from: "Acme <team@acme.test>",
    to: "held@example.com",
    raw: eml("held"),
    beforeFinalDot: async () => {
      seen.push(sink.arrivals.length);
      await Bun.sleep(150); // long enough for a dot sent early to be accepted by the sink
      seen.push(sink.arrivals.length);
    },
  });
  expect(response).toStartWith("250");
  expect(seen).toEqual([0, 0]);
  expect(sink.arrivals.map((a) => a.mail.messageId)).toEqual(["<held@acme.test>"]);
  expect(sink.arrivals[0]!.mail.text).toContain(".a line starting with a dot"); // the body went through intact
});

test("a hook may release the dot itself: the server has the message while the hook still runs (the sender does this inside its write lock)", async () => {
  const before = sink.arrivals.length;
  let whileInside = -1;
  const { response } = await smtp.send({
    from: "Acme <team@acme.test>",
    to: "released@example.com",
    raw: eml("released"),
    beforeFinalDot: async (releaseDot) => {
      await releaseDot();
      await sink.waitFor(before + 1, 5_000);
      whileInside = sink.arrivals.length;
    },
  });
  expect(response).toStartWith("250");
  expect(whileInside).toBe(before + 1);
  expect(sink.arrivals.at(-1)!.mail.messageId).toBe("<released@acme.test>");
});

test("the hook runs only once a slow consumer took the whole body, and the dot follows before releaseDot resolves", async () => {
  const body = Buffer.alloc(256 * 1024, "a"); // far beyond any stream buffer
  const input = Readable.from([body.subarray(0, 100_000), body.subarray(100_000)]);
  let received = 0;
  let ended = false;
  const slow = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, done) {
      received += chunk.length;
      setTimeout(done, 1); // a connection that drains slowly
    },
    final(done) {
      ended = true;
      done();
    },
  });
  const seen: { atHook: number; endedAtHook: boolean; endedAfterRelease?: boolean } = { atHook: -1, endedAtHook: true };
  let hookDone!: () => void;
  const hookFinished = new Promise<void>((r) => (hookDone = r));
  gateFinalDot(input, async (releaseDot) => {
    seen.atHook = received;
    seen.endedAtHook = ended;
    await releaseDot();
    seen.endedAfterRelease = ended;
    hookDone();
  }).pipe(slow);
  await hookFinished;
  expect(seen).toEqual({ atHook: body.length, endedAtHook: false, endedAfterRelease: true });
});

test("a failing beforeFinalDot withholds the dot: the send fails and the server discards the partial message", async () => {
  const before = sink.arrivals.length;
  const sent = smtp.send({ from: "team@acme.test", to: "dropped@example.com", raw: eml("dropped"), beforeFinalDot: () => Promise.reject(new Error("disk full")) });
  await expect(sent).rejects.toThrow("disk full");
  await Bun.sleep(100);
  expect(sink.arrivals.length).toBe(before);
  // The pool recovers: the next message goes out on a fresh connection.
  await smtp.send({ from: "team@acme.test", to: "after@example.com", raw: eml("after"), beforeFinalDot: async () => undefined });
  expect(sink.arrivals.at(-1)!.mail.messageId).toBe("<after@acme.test>");
});

test("a recipient refused before DATA never reaches beforeFinalDot", async () => {
  let called = false;
  const sent = smtp.send({ from: "team@acme.test", to: "bounce9@example.com", raw: eml("bounce9"), beforeFinalDot: async () => void (called = true) });
  await expect(sent).rejects.toMatchObject({ responseCode: 550 });
  expect(called).toBe(false);
});
