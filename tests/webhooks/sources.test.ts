import { afterEach, expect, test } from "bun:test";
import { simpleParser } from "mailparser";
import { constructWebhookEvent } from "../../sdk/src/index.ts";
import { drainQueue } from "../../src/pipeline";
import { deliverDue, enqueueWebhook, listDeliveries, WEBHOOK_EVENT_TYPES } from "../../src/webhooks";
import { ONLY_WELCOME, startWorld, type World } from "../drafts/support";
import { startSmtpSink, type SmtpSink } from "../mail/smtp-sink";
import { endpointToml, SECRET, startReceiver, webhookEnv, type Receiver } from "./support";

let receiver: Receiver | undefined;
let sink: SmtpSink | undefined;
afterEach(async () => {
  receiver?.stop();
  receiver = undefined;
  await sink?.close();
  sink = undefined;
});

const FAST = `autopilot = true\nreview_window = "0s"\nsend_window = { start = "00:00", end = "24:00" }\n${ONLY_WELCOME}`;
const TEMPLATE = `[[projects.rules]]\nid = "welcome"\ntemplate = { subject = "Hi", text = "Start at https://acme.io/start" }\n`;

/** Delivers what is due and returns the events the receiver got, each verified with the SDK. */
async function delivered(w: World) {
  await deliverDue(webhookEnv(w));
  return receiver!.received.map((r) => constructWebhookEvent(r.body, r.headers.get("x-vibefollow-signature"), SECRET, { now: w.clock.now() }));
}

test("draft.created (evaluator), email.sent (sender, outbox), email.opened/clicked (tracking), email.unsubscribed (POST /u/:token)", async () => {
  receiver = startReceiver();
  const w = await startWorld(FAST + TEMPLATE + endpointToml(receiver.url, [...WEBHOOK_EVENT_TYPES]), `[tracking]\nopens = true\nclicks = true\n`);
  await w.signUp("ann");
  await w.evaluate();
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);

  const [message] = await w.sql("SELECT id, draft_id, transport, eml FROM messages");
  expect(message!.transport).toBe("outbox");
  const mail = await simpleParser(String(message!.eml));
  const html = String(mail.html);
  const pixel = /src="https:\/\/vf\.example\.com(\/t\/o\/[^"]+)"/.exec(html)![1]!;
  const click = /href="https:\/\/vf\.example\.com(\/t\/c\/[^"]+)"/.exec(html)![1]!;
  const unsubscribe = /<https:\/\/vf\.example\.com(\/u\/[^>]+)>/.exec(String(mail.headers.get("list-unsubscribe") ?? mail.headerLines.find((h) => h.key === "list-unsubscribe")?.line))![1]!;
  await fetch(w.server.url + pixel);
  expect((await fetch(w.server.url + click, { redirect: "manual" })).status).toBe(302);
  expect((await fetch(w.server.url + unsubscribe, { method: "POST" })).status).toBe(200);

  const events = await delivered(w);
  const byType = Object.fromEntries(events.map((e) => [e.type, e]));
  expect(Object.keys(byType).sort()).toEqual(["draft.created", "email.clicked", "email.opened", "email.sent", "email.unsubscribed"]);
  const user = { external_user_id: "ann", email: "ann@example.com" };
  expect(byType["draft.created"]!.data).toMatchObject({ draft_id: message!.draft_id, rule_id: "welcome", ...user });
  expect(byType["email.sent"]!.data).toMatchObject({ message_id: message!.id, draft_id: message!.draft_id, to: "ann@example.com", ...user });
  expect(byType["email.opened"]!.data).toMatchObject({ message_id: message!.id, ...user });
  expect(byType["email.clicked"]!.data).toMatchObject({ message_id: message!.id, url: "https://acme.io/start", ...user });
  expect(byType["email.unsubscribed"]!.data).toMatchObject(user);
  expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
});

test("email.bounced comes from the sender's hard bounce, with the reason", async () => {
  receiver = startReceiver();
  sink = await startSmtpSink();
  const w = await startWorld(FAST + endpointToml(receiver.url, ["email.bounced", "email.sent"]), `[smtp]\nurl = "${sink.url}"\n`);
  await w.identify("bob", "bounce-bob@example.com");
  await w.track("bob", "user_signed_up", { plan: "free", source: "t" });
  await w.evaluate();
  await w.tick();
  const events = await delivered(w);
  expect(events.map((e) => e.type)).toEqual(["email.bounced"]);
  expect(events[0]!.data).toMatchObject({ external_user_id: "bob", to: "bounce-bob@example.com", reason: expect.stringContaining("5.1.1") });
});

test("quarantine.added comes from the normaliser, one per quarantined item, without the payload", async () => {
  receiver = startReceiver();
  const w = await startWorld(ONLY_WELCOME + endpointToml(receiver.url, ["quarantine.added"]));
  const res = await w.server.api("/api/v1/events/bulk", {
    body: { events: [{ external_user_id: "q1", name: "x", properties: { workspaceId: "a", workspace_id: "b" } }, { external_user_id: "q2", name: "y", properties: { planId: 1, plan_id: 2 } }] },
  });
  expect(res.status).toBe(200);
  await drainQueue(w.server.ctx);
  const quarantined = await w.sql("SELECT id, external_user_id FROM quarantine ORDER BY external_user_id");
  expect(quarantined).toHaveLength(2);
  const events = await delivered(w);
  expect(events.map((e) => e.type)).toEqual(["quarantine.added", "quarantine.added"]);
  const data = events.map((e) => e.data).sort((a, b) => String(a.external_user_id).localeCompare(String(b.external_user_id)));
  expect(data[0]).toMatchObject({ quarantine_id: quarantined[0]!.id, reason: "ambiguous_key", kind: "track", source: "bulk", external_user_id: "q1", event_name: "x" });
  expect(data[1]).toMatchObject({ quarantine_id: quarantined[1]!.id, external_user_id: "q2" });
  expect(Object.keys(data[0]!).sort()).toEqual(["detail", "event_name", "external_user_id", "kind", "quarantine_id", "reason", "source"]);
});

test("a delivery is written only if its cause commits", async () => {
  receiver = startReceiver();
  const w = await startWorld(ONLY_WELCOME + endpointToml(receiver.url, ["email.sent"]));
  const db = w.server.ctx.database;
  await expect(
    db.write(async (tx) => {
      await enqueueWebhook(tx, "acme", "email.sent", { message_id: "msg_x" });
      throw new Error("the send was not recorded after all");
    }),
  ).rejects.toThrow("not recorded");
  expect(await listDeliveries(db, "acme")).toEqual([]);
  const ids = await db.write((tx) => enqueueWebhook(tx, "acme", "email.sent", { message_id: "msg_y" }));
  expect(ids).toHaveLength(1);
  expect(await enqueueWebhook(db, "acme", "draft.created", { draft_id: "drf_x" })).toEqual([]); // not subscribed
  expect((await listDeliveries(db, "acme")).map((d) => d.id)).toEqual(ids);
});
