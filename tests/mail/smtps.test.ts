import { afterEach, expect, test } from "bun:test";
import { startWorld } from "../drafts/support";
import { startSmtpSink, type SmtpSink } from "./smtp-sink";

// smtps:// verifies the server's certificate; a server with a self-signed one (a test or internal relay) is
// reached by adding nodemailer's URL option `?tls.rejectUnauthorized=false` (config.example.toml, [smtp].url).
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
