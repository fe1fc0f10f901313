import { afterEach, beforeEach, expect, test } from "bun:test";
import { ONLY_WELCOME, startWorld } from "../drafts/support";
import { startSmtpSink, type SmtpSink } from "./smtp-sink";

// SPEC §9: open and click tracking are optional and off by default.
let sink: SmtpSink;
beforeEach(async () => {
  sink = await startSmtpSink();
});
afterEach(() => sink.close());

const FAST = `autopilot = true\nreview_window = "0s"\nsend_window = { start = "00:00", end = "24:00" }\n${ONLY_WELCOME}`;
const TEMPLATE = `[[projects.rules]]\nid = "welcome"\ntemplate = { subject = "Hi", text = "Docs: https://acme.io/docs", html = "<html><body><p>Read <a href=\\"https://acme.io/docs/start\\">the docs</a>.</p></body></html>" }\n`;

test("without a [tracking] section a sent message has no open pixel and its links are not rewritten", async () => {
  const w = await startWorld(FAST + TEMPLATE, `[smtp]\nurl = "${sink.url}"\n`);
  expect(w.server.ctx.config.tracking).toEqual({ opens: false, clicks: false });
  await w.signUp("nat");
  await w.evaluate();
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  const [arrival] = await sink.waitFor(1);
  const html = String(arrival!.mail.html);
  // The original link is there, untouched, and no redirect or pixel was added.
  expect(html).toContain('href="https://acme.io/docs/start"');
  expect(html).not.toContain("/t/c/");
  expect(html).not.toContain("/t/o/");
  expect(html).not.toMatch(/<img[^>]+width="1"/);
  // The raw message (every part, text included) carries no tracking URL either.
  expect(arrival!.raw).not.toContain("/t/c/");
  expect(arrival!.raw).not.toContain("/t/o/");
  // The unsubscribe link is still there.
  expect(html).toContain("https://vf.example.com/u/");
  const [msg] = await w.sql("SELECT open_count, click_count FROM messages");
  expect(msg).toEqual({ open_count: 0, click_count: 0 });
});
