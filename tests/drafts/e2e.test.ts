import { afterEach, beforeEach, expect, test } from "bun:test";
import { approveDraft, draftHistoryOf, listDrafts } from "../../src/drafts";
import { startSmtpSink, type SmtpSink } from "../mail/smtp-sink";
import { HOUR, MINUTE, ONLY_WELCOME, startWorld, T0 } from "./support";

let sink: SmtpSink;
beforeEach(async () => {
  sink = await startSmtpSink();
});
afterEach(() => sink.close());

const smtp = () => `[smtp]\nurl = "${sink.url}"\n`;

test("review mode: identify + signedUp → evaluator → draft → approval → deadline → the welcome email arrives, and its unsubscribe link works", async () => {
  const w = await startWorld(ONLY_WELCOME, smtp());
  await w.signUp("ann");
  const matches = await w.evaluate();
  expect(matches.map((m) => m.ruleId)).toEqual(["welcome"]);

  const [draft] = await listDrafts(w.server.ctx.database, { projectId: "acme" });
  expect(draft!.state).toBe("pending_review");
  expect(draft!.source).toBe("template");
  expect(draft!.subject).toBe("Welcome to Acme, Ann");
  expect(draft!.deadline).toBe(T0 + 2 * HOUR); // Monday 11:00 Berlin: inside the default window

  const approved = await approveDraft(w.server.ctx.database, w.server.ctx.config, draft!.id, "dashboard:jane");
  expect(approved.state).toBe("scheduled");
  expect(approved.sendAt).toBe(draft!.deadline);

  // Not before the deadline.
  w.clock.advance(HOUR);
  expect((await w.tick()).outcomes).toEqual([]);
  w.clock.advance(HOUR);
  const tick = await w.tick();
  expect(tick.outcomes.map((o) => o.outcome)).toEqual(["sent"]);

  const [arrival] = await sink.waitFor(1);
  const mail = arrival!.mail;
  expect(arrival!.envelopeTo).toEqual(["ann@example.com"]);
  expect(mail.subject).toBe("Welcome to Acme, Ann");
  expect(mail.from?.value[0]).toEqual({ address: "jane@acme.io", name: "Jane at Acme" });
  expect(mail.replyTo?.value[0]?.address).toBe("jane@acme.io");
  expect(mail.text).toContain("Hi Ann,");
  expect(mail.text).toContain("Thanks for signing up for Acme.");
  expect(mail.html).toContain("<p>Hi Ann,</p>");
  const listUnsubscribe = mail.headerLines.find((h) => h.key === "list-unsubscribe")?.line.replace(/\r?\n\s+/g, "") ?? "";
  const url = /<(https:\/\/vf\.example\.com\/u\/[^>]+)>/.exec(listUnsubscribe)?.[1];
  expect(url).toBeDefined();
  expect(mail.headerLines.find((h) => h.key === "list-unsubscribe-post")?.line).toBe("List-Unsubscribe-Post: List-Unsubscribe=One-Click");
  expect(mail.text).toContain(url!);
  expect(mail.messageId).toMatch(/^<msg_[0-9a-z]+@acme\.io>$/);

  const [sent] = await listDrafts(w.server.ctx.database, { projectId: "acme" });
  expect(sent!.state).toBe("sent");
  const history = await draftHistoryOf(w.server.ctx.database, draft!.id);
  expect(history.map((h) => [h.from, h.to, h.actor])).toEqual([
    [null, "pending_review", "evaluator"],
    ["pending_review", "scheduled", "dashboard:jane"],
    ["scheduled", "sending", "system"],
    ["sending", "sent", "sender"],
  ]);

  // The link, on our server: GET shows a confirmation form, POST (one click) suppresses at once.
  const path = new URL(url!).pathname;
  const page = await fetch(w.server.url + path);
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('<form method="post"');
  expect(html).not.toContain("ann@example.com"); // masked
  const post = await fetch(w.server.url + path, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "List-Unsubscribe=One-Click",
  });
  expect(post.status).toBe(200);
  const [user] = await w.sql("SELECT suppressed, suppressed_reason FROM tracked_users WHERE external_user_id = 'ann'");
  expect(user).toEqual({ suppressed: 1, suppressed_reason: "unsubscribed" });
  expect(await w.sql("SELECT email, reason FROM suppressions")).toEqual([{ email: "ann@example.com", reason: "unsubscribed" }]);
});

test("autopilot: the draft is scheduled by itself and goes out at its deadline", async () => {
  const w = await startWorld(`autopilot = true\nreview_window = "30m"\n${ONLY_WELCOME}`, smtp());
  await w.signUp("bob");
  await w.evaluate();
  const [draft] = await listDrafts(w.server.ctx.database);
  expect(draft!.state).toBe("scheduled");
  expect(draft!.autopilot).toBe(true);
  expect(draft!.deadline).toBe(T0 + 30 * MINUTE);
  w.clock.advance(29 * MINUTE);
  await w.tick();
  expect(sink.arrivals).toHaveLength(0);
  w.clock.advance(MINUTE);
  await w.tick();
  const [arrival] = await sink.waitFor(1);
  expect(arrival!.envelopeTo).toEqual(["bob@example.com"]);
  expect((await listDrafts(w.server.ctx.database))[0]!.state).toBe("sent");
});

test("a rule's autopilot overrides the project's; a draft not approved by its deadline expires and is never sent", async () => {
  const w = await startWorld(`autopilot = true\n${ONLY_WELCOME}[[projects.rules]]\nid = "welcome"\nautopilot = false\n`, smtp());
  await w.signUp("cat");
  await w.evaluate();
  const [draft] = await listDrafts(w.server.ctx.database);
  expect(draft!.state).toBe("pending_review");
  w.clock.advance(2 * HOUR);
  const tick = await w.tick();
  expect(tick.expired).toBe(1);
  w.clock.advance(HOUR);
  await w.tick();
  expect(sink.arrivals).toHaveLength(0);
  const [expired] = await listDrafts(w.server.ctx.database);
  expect(expired!.state).toBe("expired");
  expect((await draftHistoryOf(w.server.ctx.database, draft!.id)).at(-1)).toMatchObject({ from: "pending_review", to: "expired", actor: "system" });
  await expect(approveDraft(w.server.ctx.database, w.server.ctx.config, draft!.id, "cli")).rejects.toMatchObject({ status: 409 });
});
