import { afterEach, expect, test } from "bun:test";
import { startWorld } from "../drafts/support";
import { startSmtpSink, type SmtpSink } from "./smtp-sink";

// TLS toward the SMTP server (src/mail/transport.ts). smtps://, smtp:// with credentials and ?requireTLS=true verify
// the server's certificate; nodemailer's URL option `?tls.rejectUnauthorized=false` accepts a self-signed one.
// smtp:// without credentials takes STARTTLS when offered without verifying (opportunistic, as Postfix's "may"):
// smtp-server offers STARTTLS by default with a built-in certificate that has expired.
const sinks: SmtpSink[] = [];
afterEach(async () => {
  while (sinks.length) await sinks.pop()!.close();
});

const FAST = `autopilot = true\nreview_window = "0s"\nsend_window = { start = "00:00", end = "24:00" }\n`;

async function sendOne(url: string) {
  const w = await startWorld(FAST, `[smtp]\nurl = "${url}"\n`);
  await w.identify("tls1", "tls1@example.com", { name: "Tess" });
  await w.track("tls1", "user_signed_up", { plan: "free", source: "test" });
  await w.evaluate();
  return { w, tick: await w.tick() };
}

test("smtps:// refuses a certificate it cannot verify: the message waits for a retry, nothing is sent", async () => {
  const s = await startSmtpSink({ secure: true });
  sinks.push(s);
  const { w, tick } = await sendOne(s.url);
  expect(tick.outcomes.map((o) => o.outcome)).toEqual(["retry"]);
  const [msg] = await w.sql("SELECT state, error FROM messages");
  expect(msg!.state).toBe("queued");
  expect(String(msg!.error)).toMatch(/certificate/);
  expect(s.arrivals).toHaveLength(0);
});

test("smtps:// with ?tls.rejectUnauthorized=false delivers to a server with a self-signed certificate", async () => {
  const s = await startSmtpSink({ secure: true });
  sinks.push(s);
  const { tick } = await sendOne(`${s.url}/?tls.rejectUnauthorized=false`);
  expect(tick.outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  const [arrival] = await s.waitFor(1);
  expect(arrival!.envelopeTo).toEqual(["tls1@example.com"]);
});

test("smtp:// without credentials: STARTTLS is taken when offered, even with an unverifiable certificate", async () => {
  const s = await startSmtpSink({ starttls: true });
  sinks.push(s);
  const { tick } = await sendOne(s.url);
  expect(tick.outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  const [arrival] = await s.waitFor(1);
  expect(arrival!.envelopeTo).toEqual(["tls1@example.com"]);
  expect(arrival!.overTls).toBe(true);
});

test("smtp:// with credentials, or with ?requireTLS=true, verifies the certificate STARTTLS presents", async () => {
  for (const url of [(port: number) => `smtp://mailer:secret@127.0.0.1:${port}`, (port: number) => `smtp://127.0.0.1:${port}/?requireTLS=true`]) {
    const s = await startSmtpSink({ starttls: true });
    sinks.push(s);
    const { w, tick } = await sendOne(url(s.port));
    expect(tick.outcomes.map((o) => o.outcome)).toEqual(["retry"]);
    expect(String((await w.sql("SELECT error FROM messages"))[0]!.error)).toMatch(/certificate/);
    expect(s.arrivals).toHaveLength(0);
  }
});
