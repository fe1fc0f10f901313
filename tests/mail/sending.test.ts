import { afterEach, expect, test } from "bun:test";
import { dispatchDue, listDrafts, sendTestDraft, type SendingEnv } from "../../src/drafts";
import { countMessagesByState, deliverDue, getMessageEml, listMessages, MAX_ATTEMPTS, RETRY_DELAYS_MS } from "../../src/mail";
import { HOUR, MINUTE, ONLY_WELCOME, startWorld, type World } from "../drafts/support";
import { startSmtpSink, type SmtpSink } from "./smtp-sink";

const sinks: SmtpSink[] = [];
afterEach(async () => {
  while (sinks.length) await sinks.pop()!.close();
});
async function sink(opts?: Parameters<typeof startSmtpSink>[0]) {
  const s = await startSmtpSink(opts);
  sinks.push(s);
  return s;
}

/** Autopilot, no review wait, mail may go any time: each signup is due at once. */
const FAST = `autopilot = true\nreview_window = "0s"\nsend_window = { start = "00:00", end = "24:00" }\n${ONLY_WELCOME}`;

async function signUpAndSend(w: World, user: string, email?: string) {
  await w.identify(user, email, { name: "Pat" });
  await w.track(user, "user_signed_up", { plan: "free", source: "test" });
  await w.evaluate();
  return w.tick();
}

test("a 5.1.x recipient failure fails the message and suppresses the address (hard bounce)", async () => {
  const s = await sink();
  const w = await startWorld(FAST, `[smtp]\nurl = "${s.url}"\n`);
  const tick = await signUpAndSend(w, "b1", "bounce1@example.com");
  expect(tick.outcomes.map((o) => o.outcome)).toEqual(["failed"]);
  expect(tick.outcomes[0]!.detail).toContain("5.1.1");
  const [msg] = await w.sql("SELECT state, attempts, error FROM messages");
  expect(msg).toMatchObject({ state: "failed", attempts: 1 });
  expect((await listDrafts(w.server.ctx.database))[0]).toMatchObject({ state: "failed" });
  expect(await w.sql("SELECT suppressed, suppressed_reason FROM tracked_users")).toEqual([{ suppressed: 1, suppressed_reason: "bounced" }]);
  expect(await w.sql("SELECT email, reason FROM suppressions")).toEqual([{ email: "bounce1@example.com", reason: "bounced" }]);
  expect(s.arrivals).toHaveLength(0);
});

test("another permanent failure (5.7.1) fails without suppressing", async () => {
  const s = await sink();
  const w = await startWorld(FAST, `[smtp]\nurl = "${s.url}"\n`);
  const tick = await signUpAndSend(w, "r1", "reject1@example.com");
  expect(tick.outcomes.map((o) => o.outcome)).toEqual(["failed"]);
  expect(await w.sql("SELECT suppressed FROM tracked_users")).toEqual([{ suppressed: 0 }]);
  expect(await w.sql("SELECT count(*) AS n FROM suppressions")).toEqual([{ n: 0 }]);
});

test("a refused sender (553 5.1.8 at MAIL FROM) fails the message but suppresses no recipient: it is not a bounce", async () => {
  const s = await sink({ refuseSender: { code: 553, text: "5.1.8 Sender address rejected: Domain not found" } });
  const w = await startWorld(FAST, `[smtp]\nurl = "${s.url}"\n`);
  const tick = await signUpAndSend(w, "f1", "fine1@example.com");
  expect(tick.outcomes.map((o) => o.outcome)).toEqual(["failed"]);
  expect(await w.sql("SELECT state, error FROM messages")).toEqual([{ state: "failed", error: "553 5.1.8 Sender address rejected: Domain not found" }]);
  expect(await w.sql("SELECT suppressed FROM tracked_users")).toEqual([{ suppressed: 0 }]);
  expect(await w.sql("SELECT count(*) AS n FROM suppressions")).toEqual([{ n: 0 }]);
});

test("temporary failures (4xx) retry with backoff, then the message goes through once", async () => {
  const s = await sink({ tempfailures: 2 });
  const w = await startWorld(FAST, `[smtp]\nurl = "${s.url}"\n`);
  expect((await signUpAndSend(w, "t1", "tempfail1@example.com")).outcomes.map((o) => o.outcome)).toEqual(["retry"]);
  let [msg] = await w.sql("SELECT state, attempts, next_attempt_at, error FROM messages");
  expect(msg).toMatchObject({ state: "queued", attempts: 1, next_attempt_at: w.clock.now() + RETRY_DELAYS_MS[0] });
  expect(msg!.error).toContain("4.3.0");
  expect((await listDrafts(w.server.ctx.database))[0]!.state).toBe("sending");
  w.clock.advance(RETRY_DELAYS_MS[0] - 1);
  expect((await w.tick()).outcomes).toEqual([]); // not before its time
  w.clock.advance(1);
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["retry"]);
  w.clock.advance(RETRY_DELAYS_MS[1]);
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  [msg] = await w.sql("SELECT state, attempts FROM messages");
  expect(msg).toEqual({ state: "sent", attempts: 3 });
  expect(await s.waitFor(1)).toHaveLength(1);
  expect((await listDrafts(w.server.ctx.database))[0]!.state).toBe("sent");
});

test("a retry never leaves outside the send window: it waits for the next opening in the draft's time zone", async () => {
  const s = await sink({ tempfailures: 2 });
  // 09:00–09:05 Berlin; the world starts at 09:00 Berlin (T0).
  const w = await startWorld(`autopilot = true\nreview_window = "0s"\nsend_window = { start = "09:00", end = "09:05" }\n${ONLY_WELCOME}`, `[smtp]\nurl = "${s.url}"\n`);
  const t0 = w.clock.now();
  expect((await signUpAndSend(w, "win1", "tempfail-window@example.com")).outcomes.map((o) => o.outcome)).toEqual(["retry"]);
  w.clock.advance(RETRY_DELAYS_MS[0]); // 09:01: the first retry is inside the window, and fails again
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["retry"]);
  // The next retry would be 09:06, past the window's end: it waits for tomorrow's 09:00.
  const [msg] = await w.sql("SELECT next_attempt_at FROM messages");
  expect(msg!.next_attempt_at).toBe(t0 + 24 * HOUR);
  w.clock.advance(RETRY_DELAYS_MS[1]);
  expect((await w.tick()).outcomes).toEqual([]);
  w.clock.set(t0 + 24 * HOUR);
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  expect(await s.waitFor(1)).toHaveLength(1);
});

test("a message reached only after its window closed (a backlog, a restart) waits for the next opening, attempt not counted", async () => {
  const s = await sink();
  const w = await startWorld(`autopilot = true\nreview_window = "0s"\nsend_window = { start = "09:00", end = "09:05" }\n${ONLY_WELCOME}`, `[smtp]\nurl = "${s.url}"\n`);
  const t0 = w.clock.now(); // 09:00 Berlin
  const env = (w.server.ctx.services.find((x) => x.name === "sending") as unknown as { env: SendingEnv }).env;
  await w.identify("late1", "late-window@example.com", { name: "Pat" });
  await w.track("late1", "user_signed_up", { plan: "free", source: "test" });
  await w.evaluate();
  expect((await dispatchDue(env, 100)).queued).toBe(1); // queued inside the window…
  w.clock.advance(6 * MINUTE); // …but the sender gets to it at 09:06
  expect((await deliverDue(env, 1, 100)).map((o) => o.outcome)).toEqual(["deferred"]);
  expect(await w.sql("SELECT state, attempts, next_attempt_at FROM messages")).toEqual([{ state: "queued", attempts: 0, next_attempt_at: t0 + 24 * HOUR }]);
  expect(s.arrivals).toHaveLength(0);
  w.clock.set(t0 + 24 * HOUR);
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  expect(await s.waitFor(1)).toHaveLength(1);
});

test("a message waiting for its retry is not sent once the user is paused or unsubscribed: the draft ends cancelled", async () => {
  const s = await sink({ tempfailures: 2 });
  const w = await startWorld(FAST, `[smtp]\nurl = "${s.url}"\n`);
  expect((await signUpAndSend(w, "p1", "tempfail-pause@example.com")).outcomes.map((o) => o.outcome)).toEqual(["retry"]);
  expect((await signUpAndSend(w, "u1", "tempfail-unsub@example.com")).outcomes.map((o) => o.outcome)).toEqual(["retry"]);
  await w.sql("UPDATE tracked_users SET paused = 1 WHERE external_user_id = 'p1'");
  await w.sql("INSERT INTO suppressions (project_id, email, reason, created_at) VALUES ('acme', 'tempfail-unsub@example.com', 'unsubscribe', 0)");
  w.clock.advance(RETRY_DELAYS_MS[0]);
  expect((await w.tick()).outcomes.map((o) => o.outcome).sort()).toEqual(["failed", "failed"]);
  expect(await w.sql("SELECT u.external_user_id AS user, d.state, d.reason FROM drafts d JOIN tracked_users u ON u.id = d.user_id ORDER BY user")).toEqual([
    { user: "p1", state: "cancelled", reason: "the user is paused" },
    { user: "u1", state: "cancelled", reason: "the address is suppressed" },
  ]);
  expect((await w.sql("SELECT DISTINCT error FROM messages ORDER BY error")).map((m) => m.error)).toEqual([
    "cancelled before sending: the address is suppressed",
    "cancelled before sending: the user is paused",
  ]);
  w.clock.advance(HOUR);
  await w.tick();
  expect(s.arrivals).toHaveLength(0);
});

test("an unreachable SMTP server is a temporary failure; after the last attempt the message fails", async () => {
  const s = await sink();
  const deadUrl = s.url;
  await s.close();
  sinks.pop();
  const w = await startWorld(FAST, `[smtp]\nurl = "${deadUrl}"\n`);
  expect((await signUpAndSend(w, "c1")).outcomes.map((o) => o.outcome)).toEqual(["retry"]);
  for (let i = 1; i < MAX_ATTEMPTS; i++) {
    w.clock.advance(RETRY_DELAYS_MS[i - 1]!);
    const outcomes = (await w.tick()).outcomes.map((o) => o.outcome);
    expect(outcomes).toEqual([i === MAX_ATTEMPTS - 1 ? "failed" : "retry"]);
  }
  const [msg] = await w.sql("SELECT state, attempts, error FROM messages");
  expect(msg).toMatchObject({ state: "failed", attempts: MAX_ATTEMPTS });
  expect(String(msg!.error)).toStartWith(`gave up after ${MAX_ATTEMPTS} attempts`);
  expect(await w.sql("SELECT suppressed FROM tracked_users")).toEqual([{ suppressed: 0 }]);
}, 30_000);

test("a project's own smtp section wins over the global one", async () => {
  const s = await sink();
  const w = await startWorld(`smtp = { url = "${s.url}", from = "Acme <hello@acme.io>" }\n${FAST}`, `[smtp]\nurl = "smtp://127.0.0.1:1"\n`);
  expect((await signUpAndSend(w, "p1")).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  const [arrival] = await s.waitFor(1);
  expect(arrival!.envelopeTo).toEqual(["p1@example.com"]);
  expect(arrival!.mail.from?.value[0]?.address).toBe("jane@acme.io"); // sender.from wins over smtp.from
});

test("without SMTP config mail goes to the outbox: stored as .eml, nothing leaves", async () => {
  const s = await sink();
  const w = await startWorld(FAST);
  expect((await signUpAndSend(w, "o1")).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  const [msg] = await w.sql("SELECT transport, state, eml, smtp_response FROM messages");
  expect(msg).toMatchObject({ transport: "outbox", state: "sent", smtp_response: "stored in the outbox" });
  expect(String(msg!.eml)).toContain("Subject: Welcome to Acme, Pat");
  expect(String(msg!.eml)).toContain("List-Unsubscribe-Post: List-Unsubscribe=One-Click");
  expect(s.arrivals).toHaveLength(0);
  const [view] = await listMessages(w.server.ctx.database, { projectId: "acme", transport: "outbox" });
  expect(view).toMatchObject({ to: "o1@example.com", state: "sent", isTest: false, subject: "Welcome to Acme, Pat" });
  expect(await getMessageEml(w.server.ctx.database, view!.id)).toBe(String(msg!.eml));
  expect(await countMessagesByState(w.server.ctx.database, "acme")).toEqual({ sent: 1 });
});

test("a test send goes to any address, is marked as a test, is not counted and its unsubscribe link changes nothing", async () => {
  const s = await sink();
  const w = await startWorld(`review_window = "1h"\n${ONLY_WELCOME}`, `[smtp]\nurl = "${s.url}"\n`);
  await w.identify("real", "real@example.com", { name: "Quinn Real" });
  await w.track("real", "user_signed_up", { plan: "free", source: "test" });
  await w.evaluate();
  const [draft] = await listDrafts(w.server.ctx.database);
  const messageId = await sendTestDraft(w.server.ctx, draft!.id, "founder@acme.io");
  await w.tick();
  const [arrival] = await s.waitFor(1);
  expect(arrival!.envelopeTo).toEqual(["founder@acme.io"]);
  expect(arrival!.mail.subject).toBe("[Test] Welcome to Acme, Quinn");
  expect(arrival!.mail.text).toContain("Hi Quinn,");
  expect(arrival!.mail.headers.get("x-vibefollow-test")).toBe("1");
  expect(await w.sql("SELECT is_test, state FROM messages WHERE id = ?", [messageId])).toEqual([{ is_test: 1, state: "sent" }]);
  const url = /https:\/\/vf\.example\.com(\/u\/\S+)/.exec(arrival!.mail.text!)![1]!;
  const res = await fetch(w.server.url + url, { method: "POST" });
  expect(await res.text()).toContain("This was a test email");
  // Opened in a browser (GET), it says so too, instead of offering to unsubscribe someone.
  const opened = await (await fetch(w.server.url + url)).text();
  expect(opened).toContain("This was a test email");
  expect(opened).not.toContain("<form");
  expect(await w.sql("SELECT suppressed FROM tracked_users")).toEqual([{ suppressed: 0 }]);
  // The real draft is untouched, and the test did not use up the user's frequency cap.
  expect((await listDrafts(w.server.ctx.database))[0]!.state).toBe("pending_review");
  await import("../../src/drafts").then((m) => m.approveDraft(w.server.ctx.database, w.server.ctx.config, draft!.id, "t"));
  w.clock.advance(HOUR);
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  expect((await s.waitFor(2))[1]!.envelopeTo).toEqual(["real@example.com"]);
  await expect(sendTestDraft(w.server.ctx, draft!.id, "not an address")).rejects.toMatchObject({ status: 422 });
});

test("open and click tracking (opt-in): signed pixel and redirects that only lead to the message's own links", async () => {
  const s = await sink();
  const template = `[[projects.rules]]\nid = "welcome"\ntemplate = { subject = "Hi", text = "Docs: https://acme.io/docs", html = "<p>Read <a href=\\"https://acme.io/docs?a=1&b=2\\">the docs</a>.</p>" }\n`;
  const w = await startWorld(FAST + template, `[smtp]\nurl = "${s.url}"\n[tracking]\nopens = true\nclicks = true\n`);
  await signUpAndSend(w, "k1");
  const [arrival] = await s.waitFor(1);
  const html = String(arrival!.mail.html);
  expect(html).not.toContain('href="https://acme.io/docs');
  const click = /href="https:\/\/vf\.example\.com(\/t\/c\/[^"]+)"/.exec(html)![1]!;
  const pixel = /src="https:\/\/vf\.example\.com(\/t\/o\/[^"]+)"/.exec(html)![1]!;
  const res = await fetch(w.server.url + click, { redirect: "manual" });
  expect(res.status).toBe(302);
  expect(res.headers.get("location")).toBe("https://acme.io/docs?a=1&b=2");
  // A forged or altered token redirects nowhere.
  expect((await fetch(w.server.url + click.replace("click-0", "click-1"), { redirect: "manual" })).status).toBe(404);
  expect((await fetch(w.server.url + click.slice(0, -2) + "xx", { redirect: "manual" })).status).toBe(404);
  const gif = await fetch(w.server.url + pixel);
  expect(gif.headers.get("content-type")).toBe("image/gif");
  // An altered pixel token is refused too, and counts nothing.
  expect((await fetch(w.server.url + pixel.slice(0, -2) + "xx")).status).toBe(404);
  expect((await fetch(w.server.url + pixel.replace(".open.", ".click-0."))).status).toBe(404);
  expect(await w.sql("SELECT open_count, click_count FROM messages")).toEqual([{ open_count: 1, click_count: 1 }]);
  // The unsubscribe link is never rewritten.
  expect(html).toContain("https://vf.example.com/u/");
});

test("a tracked link holding non-ASCII text redirects with it percent-encoded (a raw header value would be a 500)", async () => {
  const s = await sink();
  const template = `[[projects.rules]]\nid = "welcome"\ntemplate = { subject = "Hi", text = "x", html = "<p><a href=\\"https://acme.io/für/€?q=ü\\">docs</a></p>" }\n`;
  const w = await startWorld(FAST + template, `[smtp]\nurl = "${s.url}"\n[tracking]\nclicks = true\n`);
  await signUpAndSend(w, "k2");
  const [arrival] = await s.waitFor(1);
  const click = /href="https:\/\/vf\.example\.com(\/t\/c\/[^"]+)"/.exec(String(arrival!.mail.html))![1]!;
  const res = await fetch(w.server.url + click, { redirect: "manual" });
  expect(res.status).toBe(302);
  expect(res.headers.get("location")).toBe("https://acme.io/f%C3%BCr/%E2%82%AC?q=%C3%BC");
});

test("unsubscribe pages: a bad token is a 404 page, and page content is escaped", async () => {
  const w = await startWorld(`name = "<Acme & Co>"\n${ONLY_WELCOME}`);
  expect((await fetch(w.server.url + "/u/nope.aaaaaaaaaaaaaaaaaaaaaa")).status).toBe(404);
  expect((await fetch(w.server.url + "/u/nope", { method: "POST" })).status).toBe(404);
  await w.signUp("esc");
  await w.evaluate();
  const [d] = await listDrafts(w.server.ctx.database);
  const path = /https:\/\/vf\.example\.com(\/u\/\S+)/.exec(d!.text)![1]!;
  const page = await (await fetch(w.server.url + path)).text();
  expect(page).toContain("&lt;Acme &amp; Co&gt;");
  expect(page).not.toContain("<Acme & Co>");
  // The confirmation form posts back to the page's own URL (no action), so it works under a public_url path too.
  expect(page).toContain('<form method="post">');
  // Unsubscribing cancels the user's open drafts at once.
  expect((await fetch(w.server.url + path, { method: "POST" })).status).toBe(200);
  expect((await listDrafts(w.server.ctx.database))[0]).toMatchObject({ state: "cancelled", reason: "unsubscribed" });
  expect(await (await fetch(w.server.url + path)).text()).toContain("You&#39;re unsubscribed");
});
