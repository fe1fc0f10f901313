import { afterEach, expect, test } from "bun:test";
import { setOnMailEvent, type MailEvent } from "../../src/mail";
import { ONLY_WELCOME, startWorld } from "../drafts/support";
import { startSmtpSink, type SmtpSink } from "./smtp-sink";

let sink: SmtpSink | undefined;
afterEach(async () => {
  setOnMailEvent(undefined);
  await sink?.close();
});

const FAST = `autopilot = true\nreview_window = "0s"\nsend_window = { start = "00:00", end = "24:00" }\n${ONLY_WELCOME}`;

test("drafts and sending report draft.created, email.sent, opened, clicked, unsubscribed and bounced, in their transactions", async () => {
  sink = await startSmtpSink();
  const template = `[[projects.rules]]\nid = "welcome"\ntemplate = { subject = "Hi", text = "See https://acme.io/start" }\n`;
  const w = await startWorld(FAST + template, `[smtp]\nurl = "${sink.url}"\n[tracking]\nopens = true\nclicks = true\n`);
  const events: MailEvent[] = [];
  setOnMailEvent(async (tx, e) => {
    events.push(e);
    // A hook's writes commit with the change (here: a row the test can see).
    await tx.execute({ sql: "INSERT INTO meta (key, value) VALUES (?, ?)", args: [`event:${events.length}`, e.type] });
  });
  await w.signUp("ann");
  await w.identify("bob", "bounce-bob@example.com");
  await w.track("bob", "user_signed_up", { plan: "free", source: "t" });
  await w.evaluate();
  await w.tick();
  const [arrival] = await sink.waitFor(1);
  const html = String(arrival!.mail.html);
  const click = /href="https:\/\/vf\.example\.com(\/t\/c\/[^"]+)"/.exec(html)![1]!;
  const pixel = /src="https:\/\/vf\.example\.com(\/t\/o\/[^"]+)"/.exec(html)![1]!;
  for (let i = 0; i < 2; i++) {
    await fetch(w.server.url + pixel);
    await fetch(w.server.url + click, { redirect: "manual" });
  }
  const unsubscribe = /https:\/\/vf\.example\.com(\/u\/\S+)/.exec(arrival!.mail.text!)![1]!;
  await fetch(w.server.url + unsubscribe, { method: "POST" });
  await fetch(w.server.url + unsubscribe, { method: "POST" }); // twice: one event

  expect(events.map((e) => `${e.type}:${e.data.external_user_id}`).sort()).toEqual(
    ["draft.created:ann", "draft.created:bob", "email.bounced:bob", "email.clicked:ann", "email.opened:ann", "email.sent:ann", "email.unsubscribed:ann"].sort(),
  );
  const clicked = events.find((e) => e.type === "email.clicked")!;
  expect(clicked.data).toMatchObject({ url: "https://acme.io/start", email: "ann@example.com" });
  expect(clicked.projectId).toBe("acme");
  expect(await w.sql("SELECT count(*) AS n FROM meta WHERE key LIKE 'event:%'")).toEqual([{ n: events.length }]);
});

test("a hook that throws is undone and logged; the email still goes out", async () => {
  sink = await startSmtpSink();
  const w = await startWorld(FAST, `[smtp]\nurl = "${sink.url}"\n`);
  setOnMailEvent(async (tx) => {
    await tx.execute({ sql: "INSERT INTO meta (key, value) VALUES ('half-done', 'x')", args: [] });
    throw new Error("webhook store down");
  });
  await w.signUp("cy");
  await w.evaluate();
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  await sink.waitFor(1);
  expect(await w.sql("SELECT count(*) AS n FROM meta WHERE key = 'half-done'")).toEqual([{ n: 0 }]);
  expect(await w.sql("SELECT state FROM drafts")).toEqual([{ state: "sent" }]);
});
