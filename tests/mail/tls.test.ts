import { afterEach, expect, test } from "bun:test";
import { startWorld } from "../drafts/support";
import { isOpportunisticTls } from "../../src/mail/transport";
import { startSmtpSink, type SmtpSink } from "./smtp-sink";

// TLS toward the SMTP server (src/mail/transport.ts). smtps://, smtp:// with credentials (to a host that is not
// loopback) and ?requireTLS=true verify the server's certificate; nodemailer's URL option `?tls.rejectUnauthorized=false` accepts a self-signed one.
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

test("smtp:// with credentials: STARTTLS toward a loopback relay is taken unverified; ?requireTLS=true verifies", async () => {
  const login = await startSmtpSink({ starttls: true });
  sinks.push(login);
  const sent = await sendOne(`smtp://mailer:secret@127.0.0.1:${login.port}`);
  expect(sent.tick.outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  expect((await login.waitFor(1))[0]!.overTls).toBe(true);

  const s = await startSmtpSink({ starttls: true });
  sinks.push(s);
  const { w, tick } = await sendOne(`smtp://127.0.0.1:${s.port}/?requireTLS=true`);
  expect(tick.outcomes.map((o) => o.outcome)).toEqual(["retry"]);
  expect(String((await w.sql("SELECT error FROM messages"))[0]!.error)).toMatch(/certificate/);
  expect(s.arrivals).toHaveLength(0);
});

test("which URLs verify the certificate: credentials toward another host do, the same toward a loopback one do not", () => {
  expect(isOpportunisticTls("smtp://mail.example.com:25")).toBe(true);
  expect(isOpportunisticTls("smtp://mailer:secret@mail.example.com:587")).toBe(false);
  expect(isOpportunisticTls("smtp://mailer:secret@10.0.0.5:587")).toBe(false);
  for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "[::1]"]) expect(isOpportunisticTls(`smtp://mailer:secret@${host}:587`)).toBe(true);
  expect(isOpportunisticTls("smtp://127.0.0.1:25/?requireTLS=true")).toBe(false);
  expect(isOpportunisticTls("smtps://mail.example.com:465")).toBe(false);
});
