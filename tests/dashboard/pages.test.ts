import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { ADMIN, signIn, startSite, VIEWER, type Site } from "./support";

// Real Argon2id logins against a real server: slower than the 5 s default of a bare `bun test`.
setDefaultTimeout(30_000);

let site: Site;
let admin: Awaited<ReturnType<typeof signIn>>;
let viewer: Awaited<ReturnType<typeof signIn>>;
beforeAll(async () => {
  site = await startSite();
  [admin, viewer] = await Promise.all([signIn(site.url, ADMIN), signIn(site.url, VIEWER)]);
  await site.identify("ann", { email: "ann@example.com", traits: { name: "Ann Example" } });
  await site.track("ann", "user_signed_up", { plan: "free", source: "test" });
  await site.process();
});
afterAll(() => site.close());

const draftOf = async (externalId: string) =>
  (await site.sql("SELECT d.* FROM drafts d JOIN tracked_users u ON u.id = d.user_id WHERE u.external_user_id = ?", [externalId]))[0];

test("rules: preview lists who would match without recording; 'evaluate now' creates the drafts", async () => {
  const page = await (await admin.get("/dashboard/rules?project=acme")).text();
  expect(page).toContain('data-rule="welcome"');
  expect(page).toContain("Last run: never");
  const preview = await (await admin.get("/dashboard/rules/welcome/preview?project=acme")).text();
  expect(preview).toContain('data-total="1"');
  expect(preview).toContain("ann@example.com");
  expect(await site.sql("SELECT * FROM rule_firings")).toEqual([]);
  expect((await viewer.get("/dashboard/rules/welcome/preview?project=acme")).status).toBe(200);
  expect(await (await viewer.get("/dashboard/rules/welcome/preview?project=acme")).text()).toContain("a***@e***.com");

  const run = await admin.post("/dashboard/rules/evaluate", { project: "acme", _csrf: admin.csrf });
  expect(run.status).toBe(303);
  expect(run.headers.get("location")).toBe("/dashboard/rules?project=acme&notice=evaluated");
  expect((await draftOf("ann"))!.state).toBe("pending_review");
  const after = await (await admin.get("/dashboard/rules?project=acme")).text();
  expect(after).toMatch(/Last run: .*manual, ok/);
  const [runRow] = await site.sql("SELECT trigger FROM evaluator_runs ORDER BY id DESC LIMIT 1");
  expect(runRow!.trigger).toBe("manual");
});

test("drafts: edit, reschedule, test send (downloadable .eml), reject — each recorded with the account", async () => {
  const draft = (await draftOf("ann"))!;
  const id = String(draft.id);
  const edit = await admin.post(`/dashboard/drafts/${id}/edit`, { project: "acme", _csrf: admin.csrf, subject: "Hello <Ann>", text: "Hi Ann,\r\nwelcome aboard." });
  expect(edit.status).toBe(303);
  const edited = (await draftOf("ann"))!;
  expect(edited.subject).toBe("Hello <Ann>");
  expect(String(edited.text_body)).toStartWith("Hi Ann,\nwelcome aboard.");
  const page = await (await admin.get(`/dashboard/drafts/${id}?project=acme`)).text();
  expect(page).toContain("Hello &lt;Ann&gt;");
  expect(page).toContain('sandbox="allow-same-origin"');

  const bad = await admin.post(`/dashboard/drafts/${id}/reschedule`, { project: "acme", _csrf: admin.csrf, at: "tomorrow" });
  expect(bad.status).toBe(422);
  const resched = await admin.post(`/dashboard/drafts/${id}/reschedule`, { project: "acme", _csrf: admin.csrf, at: "2031-05-04T10:30" });
  expect(resched.status).toBe(303);
  expect(Number((await draftOf("ann"))!.deadline)).toBe(Date.parse("2031-05-04T10:30:00Z"));

  const sent = await admin.post(`/dashboard/drafts/${id}/test`, { project: "acme", _csrf: admin.csrf, address: "qa@acme.io" });
  expect(sent.status).toBe(303);
  const [message] = await site.sql("SELECT id, is_test, transport FROM messages WHERE draft_id = ?", [id]);
  expect(message).toMatchObject({ is_test: 1, transport: "outbox" });
  const list = await (await admin.get("/dashboard/messages?project=acme&transport=outbox")).text();
  expect(list).toContain(String(message!.id));
  expect(list).toContain("qa@acme.io");
  const eml = await admin.get(`/dashboard/messages/${message!.id}.eml?project=acme`);
  expect(eml.status).toBe(200);
  expect(eml.headers.get("content-type")).toBe("message/rfc822");
  expect(eml.headers.get("content-disposition")).toBe(`attachment; filename="${message!.id}.eml"`);
  expect(await eml.text()).toContain("To: qa@acme.io");
  // Another project's message is not reachable through this one.
  expect((await admin.get(`/dashboard/messages/${message!.id}.eml?project=beta`)).status).toBe(404);
  // Viewers see the list masked and cannot download.
  const viewerList = await (await viewer.get("/dashboard/messages?project=acme")).text();
  expect(viewerList).toContain("q***@a***.io");
  expect(viewerList).not.toContain("qa@acme.io");

  const reject = await admin.post(`/dashboard/drafts/${id}/reject`, { project: "acme", _csrf: admin.csrf, reason: "not now" });
  expect(reject.status).toBe(303);
  expect((await draftOf("ann"))!.state).toBe("rejected");
  const actors = await site.sql("SELECT actor, note FROM draft_history WHERE draft_id = ? ORDER BY id", [id]);
  expect(actors.filter((a) => a.actor === "dashboard:jane").map((a) => a.note)).toEqual([
    "edited",
    "rescheduled to 2031-05-04T10:30:00.000Z",
    `test sent to qa@acme.io as ${message!.id}`,
    "not now",
  ]);
  // A second reject is a 409 page, not a crash.
  expect((await admin.post(`/dashboard/drafts/${id}/reject`, { project: "acme", _csrf: admin.csrf })).status).toBe(409);
  // The draft is not reachable through another project.
  expect((await admin.get(`/dashboard/drafts/${id}?project=beta`)).status).toBe(404);
});

test("a viewer sees no name that HTML escaping changed (D'Arcy), nor one under a name-like key", async () => {
  await site.identify("darcy", { email: "darcy@smith.io", traits: { name: "D'Arcy Smith", displayName: "D'Arcy Smith", username: "D'Arcy", contactName: "Smith", plan_name: "Pro" } });
  await site.track("darcy", "user_signed_up", { plan: "free", source: "test" });
  await site.track("darcy", "user_invited", { invitedEmail: "friend@smith.io", inviter_name: "D'Arcy Smith" });
  await site.process(true);
  const id = String((await draftOf("darcy"))!.id);
  for (const path of [`/dashboard/drafts/${id}?project=acme`, "/dashboard/users/darcy?project=acme"]) {
    const page = await (await viewer.get(path)).text();
    expect({ path, arcy: page.includes("Arcy"), smith: page.includes("Smith") }).toEqual({ path, arcy: false, smith: false });
  }
  // What is not a person's name stays readable.
  expect(await (await viewer.get("/dashboard/users/darcy?project=acme")).text()).toContain("Pro");
  expect(await (await admin.get(`/dashboard/drafts/${id}?project=acme`)).text()).toContain("D&amp;#39;Arcy");
});

test("a viewer sees no name a template took from traits (first_name), no contact trait, no reject reason in clear", async () => {
  await site.identify("yq", { email: "yolanda.q@corp.example", traits: { first_name: "Yolanda", last_name: "Quixote", email_address: "alt.address@hidden.example", contact: "secret.person@hidden.example" } });
  await site.track("yq", "user_signed_up", { plan: "free", source: "test" });
  await site.process(true);
  const id = String((await draftOf("yq"))!.id);
  const leaks = (page: string) => ["Yolanda", "Quixote", "yolanda.q", "alt.address", "secret.person"].filter((s) => page.includes(s));
  for (const path of [`/dashboard/drafts/${id}?project=acme`, "/dashboard/drafts?project=acme", "/dashboard/users/yq?project=acme"]) {
    const page = await (await viewer.get(path)).text();
    expect({ path, leaks: leaks(page) }).toEqual({ path, leaks: [] });
  }
  expect(await (await admin.get(`/dashboard/drafts/${id}?project=acme`)).text()).toContain("Yolanda");
  // A reject reason naming the person is masked like the rest of the page.
  expect((await admin.post(`/dashboard/drafts/${id}/reject`, { project: "acme", _csrf: admin.csrf, reason: "Yolanda (yolanda.q@corp.example) asked us to stop" })).status).toBe(303);
  expect(leaks(await (await viewer.get(`/dashboard/drafts/${id}?project=acme`)).text())).toEqual([]);
});

test("two reviewers: an edit or approval made from a stale page is refused (409), not a silent overwrite", async () => {
  const other = await signIn(site.url, ADMIN); // a second reviewer's session
  await site.identify("lu", { email: "lu@example.com", traits: { name: "Lu" } });
  await site.track("lu", "user_signed_up", { plan: "free", source: "test" });
  await site.process(true);
  const id = String((await draftOf("lu"))!.id);
  const seenOn = async (who: typeof admin) => /name="seen" value="(\d+)"/.exec(await (await who.get(`/dashboard/drafts/${id}?project=acme`)).text())![1]!;
  const mine = await seenOn(admin);
  const theirs = await seenOn(other);
  expect((await other.post(`/dashboard/drafts/${id}/edit`, { project: "acme", _csrf: other.csrf, seen: theirs, subject: "Changed by the other reviewer", text: "Their text" })).status).toBe(303);
  // My page still shows the old content: neither my edit nor my approval may go through on it.
  const edit = await admin.post(`/dashboard/drafts/${id}/edit`, { project: "acme", _csrf: admin.csrf, seen: mine, subject: "Mine" });
  expect(edit.status).toBe(409);
  expect(await edit.text()).toContain("changed since you opened it");
  expect((await admin.post(`/dashboard/drafts/${id}/approve`, { project: "acme", _csrf: admin.csrf, seen: mine })).status).toBe(409);
  expect((await draftOf("lu"))!).toMatchObject({ state: "pending_review", subject: "Changed by the other reviewer" });
  // Reloaded, the approval goes through.
  expect((await admin.post(`/dashboard/drafts/${id}/approve`, { project: "acme", _csrf: admin.csrf, seen: await seenOn(admin) })).status).toBe(303);
  expect((await draftOf("lu"))!.state).toBe("scheduled");
});

test("a notice name that is not one (constructor, __proto__) shows nothing", async () => {
  for (const notice of ["constructor", "toString", "__proto__"]) {
    const page = await (await admin.get(`/dashboard?project=acme&notice=${notice}`)).text();
    expect({ notice, native: page.includes("native code") || page.includes("[object Object]") }).toEqual({ notice, native: false });
  }
});

test("a viewer's draft page masks the recipient inside the body too", async () => {
  await site.identify("zed", { email: "zed.zulu@example.com", traits: { name: "Zed Zulu" } });
  await site.track("zed", "user_signed_up", { plan: "free", source: "test" });
  await site.process(true);
  const id = String((await draftOf("zed"))!.id);
  const page = await (await viewer.get(`/dashboard/drafts/${id}?project=acme`)).text();
  expect(page).not.toContain("Zed");
  expect(page).not.toContain("zed.zulu");
  expect(page).toContain("Z***");
  // The recipient's signed unsubscribe link is not shown to a viewer (it would let them unsubscribe the user).
  expect(page).not.toMatch(/\/u\/[A-Za-z0-9]/);
  expect(page).toContain("/u/…");
  expect(await (await admin.get(`/dashboard/drafts/${id}?project=acme`)).text()).toContain("Zed");
  // The review queue shows the subject with the name masked, too.
  const queue = await (await viewer.get("/dashboard/drafts?project=acme")).text();
  expect(queue).toContain(`data-draft="${id}"`);
  expect(queue).toContain("Welcome to Acme, Z***");
  expect(queue).not.toContain("Zed");
  expect(await (await admin.get("/dashboard/drafts?project=acme")).text()).toContain("Welcome to Acme, Zed");
});

test("audiences: sizes and members; the webhooks page renders with no deliveries", async () => {
  const list = await (await admin.get("/dashboard/audiences?project=acme")).text();
  expect(list).toMatch(/data-audience="signups"[\s\S]*?data-size="(\d+)"/);
  const size = Number(/data-audience="signups"[\s\S]*?data-size="(\d+)"/.exec(list)![1]);
  const [count] = await site.sql("SELECT count(*) AS n FROM audience_members WHERE project_id = 'acme' AND audience_id = 'signups'");
  expect(size).toBe(Number(count!.n));
  expect(size).toBeGreaterThan(0);
  const members = await (await admin.get("/dashboard/audiences/signups?project=acme")).text();
  expect(members).toContain("ann@example.com");
  const masked = await (await viewer.get("/dashboard/audiences/signups?project=acme")).text();
  expect(masked).toContain("a***@e***.com");
  expect(masked).not.toContain("ann@example.com");
  expect((await admin.get("/dashboard/audiences/nope?project=acme")).status).toBe(404);
  // Paging: an offset SQLite cannot bind (2^63), a negative or a junk one is the first page, never a 500.
  for (const offset of ["9223372036854775807", "99999999999999999999999", "-5", "x", "1.5"]) {
    expect((await admin.get(`/dashboard/audiences/signups?project=acme&offset=${offset}`)).status).toBe(200);
    expect((await viewer.get(`/dashboard/quarantine?project=acme&state=all&offset=${offset}`)).status).toBe(200);
  }
  const hooks = await admin.get("/dashboard/webhooks?project=acme");
  expect(hooks.status).toBe(200);
  expect(await hooks.text()).toContain("Dead letters");
});

test("quarantine: replaying twice is a 409; a non-JSON edit is a 422; bulk reports items already handled", async () => {
  await site.identify("qz", { email: "qz@example.com" });
  await site.track("qz", "e", { fooBar: 1, foo_bar: 2 });
  await site.track("qz", "e2", { fooBar: 1, foo_bar: 3 });
  await site.process();
  const items = await site.sql("SELECT id FROM quarantine WHERE external_user_id = 'qz' ORDER BY event_name");
  expect(items.length).toBe(2);
  const [a, b] = items.map((r) => String(r.id));
  const notJson = await admin.post(`/dashboard/quarantine/${a}/replay`, { project: "acme", _csrf: admin.csrf, payload: "{nope" });
  expect(notJson.status).toBe(422);
  expect(await notJson.text()).toContain("not valid JSON");
  expect((await admin.post(`/dashboard/quarantine/${a}/replay`, { project: "acme", _csrf: admin.csrf })).status).toBe(303);
  expect((await admin.post(`/dashboard/quarantine/${a}/replay`, { project: "acme", _csrf: admin.csrf })).status).toBe(409);
  const [queued] = await site.sql("SELECT payload, source FROM ingest_queue ORDER BY seq DESC LIMIT 1");
  expect(queued!.source).toBe("api"); // a replay keeps the item's original source
  expect(JSON.parse(String(queued!.payload)).properties).toEqual({ fooBar: 1, foo_bar: 2 });
  const bulk = await admin.post("/dashboard/quarantine/bulk", { project: "acme", _csrf: admin.csrf, action: "replay", ids: [a!, b!] });
  expect(bulk.status).toBe(200);
  const text = await bulk.text();
  expect(text).toContain("Replayed 1 item(s).");
  expect(text).toContain(`${a}: Item ${a} is already replayed.`);
  expect((await site.sql("SELECT state FROM quarantine WHERE id = ?", [b!]))[0]!.state).toBe("replayed");
  // A viewer sees the payload read-only.
  const item = await (await viewer.get(`/dashboard/quarantine/${b}?project=acme`)).text();
  expect(item).not.toContain("<textarea");
  expect(item).toContain("foo_bar");
});

test("webhooks: dead letters are listed and an admin re-sends one with the same id; a viewer cannot", async () => {
  const t = Date.now();
  await site.sql(
    `INSERT INTO webhook_deliveries (id, project_id, endpoint_url, event_type, body, state, attempts, next_attempt_at, last_status, last_error, created_at)
     VALUES ('whd_dead1', 'acme', 'https://hooks.example.com/<x>', 'email.sent', '{}', 'dead', 8, ?, 500, 'HTTP 500 <b>boom</b>', ?)`,
    [t, t],
  );
  const page = await (await admin.get("/dashboard/webhooks?project=acme")).text();
  expect(page).toContain('data-delivery="whd_dead1"');
  expect(page).toContain("HTTP 500 &lt;b&gt;boom&lt;/b&gt;");
  expect(page).not.toContain("<b>boom</b>");
  expect((await viewer.post("/dashboard/webhooks/whd_dead1/redeliver", { project: "acme", _csrf: viewer.csrf })).status).toBe(403);
  const res = await admin.post("/dashboard/webhooks/whd_dead1/redeliver", { project: "acme", _csrf: admin.csrf });
  expect(res.status).toBe(303);
  const [row] = await site.sql("SELECT state, attempts FROM webhook_deliveries WHERE id = 'whd_dead1'");
  expect(row).toEqual({ state: "pending", attempts: 0 });
  // Only dead deliveries can be re-sent (a pending one is a conflict, as for drafts), and only in their own project.
  expect((await admin.post("/dashboard/webhooks/whd_dead1/redeliver", { project: "acme", _csrf: admin.csrf })).status).toBe(409);
  expect((await admin.post("/dashboard/webhooks/whd_dead1/redeliver", { project: "beta", _csrf: admin.csrf })).status).toBe(404);
  expect((await admin.post("/dashboard/webhooks/whd_nope/redeliver", { project: "acme", _csrf: admin.csrf })).status).toBe(404);
});

test("users: an admin pauses a user (no rule matches them, the page says so) and resumes them; a viewer cannot", async () => {
  await site.identify("pat", { email: "pat@example.com" });
  await site.track("pat", "user_signed_up", { plan: "free", source: "test" });
  await site.process();
  const previewed = async () => (await (await admin.get("/dashboard/rules/welcome/preview?project=acme")).text()).includes("pat@example.com");
  expect(await previewed()).toBe(true);

  expect((await viewer.post("/dashboard/users/pat/pause", { project: "acme", _csrf: viewer.csrf })).status).toBe(403);
  const paused = await admin.post("/dashboard/users/pat/pause", { project: "acme", _csrf: admin.csrf });
  expect(paused.status).toBe(303);
  expect(paused.headers.get("location")).toBe("/dashboard/users/pat?project=acme&notice=paused");
  expect(await site.sql("SELECT paused FROM tracked_users WHERE external_user_id = 'pat'")).toEqual([{ paused: 1 }]);
  expect(await (await admin.get("/dashboard/users/pat?project=acme")).text()).toContain('data-paused="yes"');
  expect(await previewed()).toBe(false);
  // A later event does not unpause (the normaliser never writes the column).
  await site.track("pat", "feature_used", { feature: "x" });
  await site.process();
  expect(await site.sql("SELECT paused FROM tracked_users WHERE external_user_id = 'pat'")).toEqual([{ paused: 1 }]);

  expect((await admin.post("/dashboard/users/pat/resume", { project: "acme", _csrf: admin.csrf })).status).toBe(303);
  expect(await site.sql("SELECT paused FROM tracked_users WHERE external_user_id = 'pat'")).toEqual([{ paused: 0 }]);
  expect(await previewed()).toBe(true);
  expect((await admin.post("/dashboard/users/nobody/pause", { project: "acme", _csrf: admin.csrf })).status).toBe(404);
});

test("the users list and the review queue page through everything (50 users, 200 drafts a page)", async () => {
  const ids = Array.from({ length: 205 }, (_, i) => `pg${String(i).padStart(3, "0")}`);
  const bulk = async (path: string, body: unknown) => expect((await site.server.api(path, { body })).status).toBe(200);
  await bulk("/api/v1/users/bulk", { users: ids.map((id) => ({ external_user_id: id, email: `${id}@example.com` })) });
  await bulk("/api/v1/events/bulk", { events: ids.map((id) => ({ external_user_id: id, name: "user_signed_up", properties: { plan: "free", source: "test" } })) });
  await site.process(true);
  // Follows "Next page" until there is none; every page but the last is full, and no row comes twice.
  const walk = async (first: string, row: RegExp, size: number) => {
    const seen: string[] = [];
    let path: string | undefined = first;
    while (path) {
      const page = await (await admin.get(path)).text();
      const rows = [...page.matchAll(row)].map((m) => m[1]!);
      const next = /<a class="btn" rel="next" href="([^"]+)"/.exec(page)?.[1]?.replaceAll("&amp;", "&");
      if (next) expect(rows).toHaveLength(size);
      seen.push(...rows);
      path = next;
    }
    expect(new Set(seen).size).toBe(seen.length);
    return seen;
  };
  const users = await walk("/dashboard/users?project=acme", /<tr><td><a href="\/dashboard\/users\/([^"?]+)\?project=acme"/g, 50);
  expect(users.filter((u) => u.startsWith("pg"))).toHaveLength(205);
  const queue = await walk("/dashboard/drafts?project=acme", /<tr data-draft="([^"]+)"/g, 200);
  const pending = await site.sql("SELECT id FROM drafts WHERE project_id = 'acme' AND state = 'pending_review'");
  expect(queue.sort()).toEqual(pending.map((d) => String(d.id)).sort());
  expect(queue.length).toBeGreaterThan(200);
});

test("users whose id is `.`, `..` or `~..` have reachable pages (browsers resolve dot segments), and can be paused", async () => {
  const ids = [".", "..", "~..", "~"];
  for (const id of ids) await site.identify(id, { email: `dots${ids.indexOf(id)}@example.com` });
  await site.process();
  const list = await (await admin.get("/dashboard/users?project=acme&q=dots")).text(); // by their emails
  for (const id of ids) {
    const escaped = id.replace(/[.~]/g, (c) => `\\${c}`);
    const href = new RegExp(`<a href="([^"]+)">${escaped}</a>`).exec(list)?.[1]?.replaceAll("&amp;", "&");
    expect({ id, href: Boolean(href) }).toEqual({ id, href: true });
    // fetch resolves `.`/`..` segments as a browser does.
    const page = await admin.get(href!);
    expect({ id, status: page.status }).toEqual({ id, status: 200 });
    const body = await page.text();
    expect(body).toContain(`<td>${id}</td>`);
    const pause = /<form class="inline" method="post" action="([^"]+\/pause)"/.exec(body)![1]!;
    expect((await admin.post(pause, { project: "acme", _csrf: admin.csrf })).status).toBe(303);
    expect((await site.sql("SELECT paused FROM tracked_users WHERE project_id = 'acme' AND external_user_id = ?", [id]))[0]!.paused).toBe(1);
  }
});

test("a viewer sees no detail a draft was made from, even after the user's name and email changed, nor an SMTP error's address", async () => {
  await site.identify("ren", { email: "carol.king@corp.example.org", traits: { name: "Carol King" } });
  await site.track("ren", "user_signed_up", { plan: "free", source: "test", referrer_name: "Frank Invitee" });
  await site.process(true);
  const draft = (await draftOf("ren"))!;
  const id = String(draft.id);
  // Recorded when the draft was made: the user's details then, and the triggering event's.
  expect(JSON.parse(String(draft.pii_terms))).toEqual(["carol.king@corp.example.org", "Carol King", "Frank Invitee"]);
  await site.identify("ren", { email: "c.smith@newmail.example.net", traits: { name: "Caroline Smith" } });
  await site.process();
  // The text holds the old name (as rendered), in capitals too, and the referrer's details.
  const seen = /name="seen" value="(\d+)"/.exec(await (await admin.get(`/dashboard/drafts/${id}?project=acme`)).text())![1]!;
  const text = "Hi CAROL KING (carol.king@corp.example.org): Frank Invitee <frank@elsewhere.example> referred you.";
  expect((await admin.post(`/dashboard/drafts/${id}/edit`, { project: "acme", _csrf: admin.csrf, seen, subject: "Welcome, Carol King", text })).status).toBe(303);
  const leaks = (page: string) => ["Carol", "CAROL", "King", "KING", "carol.king", "Frank", "Invitee", "frank@", "c.smith", "Caroline", "Smith"].filter((s) => page.includes(s));
  for (const path of [`/dashboard/drafts/${id}?project=acme`, "/dashboard/drafts?project=acme", "/dashboard/users/ren?project=acme"]) {
    const page = await (await viewer.get(path)).text();
    expect({ path, leaks: leaks(page) }).toEqual({ path, leaks: [] });
  }
  expect(await (await admin.get(`/dashboard/drafts/${id}?project=acme`)).text()).toContain("Frank Invitee");
  // A message's SMTP error quoting the address is masked on the messages page and the user's page.
  const [user] = await site.sql("SELECT id FROM tracked_users WHERE external_user_id = 'ren'");
  await site.server.ctx.database.execute({
    sql: `INSERT INTO messages (id, project_id, draft_id, rule_id, user_id, to_address, from_address, subject, smtp_message_id, eml, transport, state, attempts, next_attempt_at, error, created_at, updated_at)
          VALUES ('msg_smtp_err', 'acme', ?, 'welcome', ?, 'c.smith@newmail.example.net', 'hello@acme.io', 'Welcome, Carol King', '<m@acme.io>', 'eml', 'smtp', 'failed', 1, 0, '550 5.1.1 <c.smith@newmail.example.net>: Recipient address rejected', 1, 1)`,
    args: [id, Number(user!.id)],
  });
  for (const path of ["/dashboard/messages?project=acme", "/dashboard/users/ren?project=acme"]) {
    const page = await (await viewer.get(path)).text();
    expect({ path, error: page.includes("Recipient address rejected"), leaks: leaks(page) }).toEqual({ path, error: true, leaks: [] });
  }
});

test("control and bidirectional characters a client sent are shown as U+FFFD, not let loose on the page", async () => {
  await site.identify("ctl\u202Eexe.txt", { email: "ctl@example.com", traits: { name: "Eve\u001b[31m Red\u0007", company: "Acme\u2066Corp\u0085" } });
  await site.process();
  const page = await (await admin.get(`/dashboard/users/${encodeURIComponent("ctl\u202Eexe.txt")}?project=acme`)).text();
  expect(page).toContain("Eve\uFFFD[31m Red\uFFFD");
  expect(page).toContain("ctl\uFFFDexe.txt");
  expect(page).not.toMatch(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/);
});

test("a POST naming its project only in the URL acts in that project: another project's draft is not found there", async () => {
  await site.identify("url-proj", { email: "url.proj@example.com", traits: { name: "Uma" } });
  await site.track("url-proj", "user_signed_up", { plan: "free", source: "test" });
  await site.process(true);
  const draft = (await draftOf("url-proj"))!;
  const r = await admin.post(`/dashboard/drafts/${draft.id}/reschedule?project=beta`, { _csrf: admin.csrf, at: "2030-01-01T10:00" });
  expect(r.status).toBe(404);
  expect((await draftOf("url-proj"))!.deadline).toBe(draft.deadline);
  const autopilot = async (id: string) => (await site.sql("SELECT autopilot_override AS v FROM projects WHERE id = ?", [id]))[0]!.v;
  expect((await admin.post("/dashboard/settings/autopilot?project=beta", { _csrf: admin.csrf, autopilot: "off" })).status).toBe(303);
  expect([await autopilot("acme"), await autopilot("beta")]).toEqual([null, 0]);
  await admin.post("/dashboard/settings/autopilot?project=beta", { _csrf: admin.csrf, autopilot: "config" });
});

test("what the pages show (SPEC §11): overview cards, a user's stage and audiences, the queue in deadline order, rule parameters, a key's last use", async () => {
  await site.identify("pc-user", { email: "pc.user@example.com", traits: { name: "Pia" } });
  await site.track("pc-user", "user_signed_up", { plan: "free", source: "test" });
  await site.process(true);
  const stat = (page: string, id: string) => new RegExp(`data-stat="${id}"><div class="n">(?:<a [^>]*>)?([^<]*)<`).exec(page)?.[1];

  const overview = await (await admin.get("/dashboard?project=acme")).text();
  const [waiting] = await site.sql("SELECT count(*) AS n FROM drafts WHERE project_id = 'acme' AND state = 'pending_review'");
  expect(stat(overview, "drafts-waiting")).toBe(String(waiting!.n));
  const [sent] = await site.sql("SELECT count(*) AS n FROM messages WHERE project_id = 'acme' AND is_test = 0 AND state = 'sent'");
  expect(stat(overview, "sends-24h")).toBe(String(sent!.n));
  expect(stat(overview, "queue-depth")).toBe("0");
  expect(stat(overview, "queue-lag")).toBeDefined();

  const user = await (await admin.get("/dashboard/users/pc-user?project=acme")).text();
  expect(user).toContain("<th style=\"width:180px\">Stage</th><td>signed_up</td>");
  expect(user).toMatch(/<li><a href="[^"]*\/audiences\/signups[^"]*">signups<\/a>/);

  const queue = await (await admin.get("/dashboard/drafts?project=acme")).text();
  const shown = [...queue.matchAll(/data-draft="([^"]+)"/g)].map((m) => m[1]);
  const byDeadline = (await site.sql("SELECT id FROM drafts WHERE project_id = 'acme' AND state = 'pending_review' ORDER BY deadline, id")).map((r) => String(r.id));
  expect(shown.length).toBe(Math.min(200, byDeadline.length)); // a page holds 200
  expect(shown.length).toBeGreaterThan(1);
  expect(shown).toEqual(byDeadline.slice(0, shown.length));

  const rules = await (await admin.get("/dashboard/rules?project=acme")).text();
  expect(/<tr data-rule="welcome">[\s\S]*?<code[^>]*>([^<]*)<\/code>/.exec(rules)?.[1]).toContain("delay = 0s");

  const settings = await (await admin.get("/dashboard/settings?project=acme")).text();
  const [key] = await site.sql("SELECT id, last_used_at FROM api_keys WHERE project_id = 'acme' AND last_used_at IS NOT NULL LIMIT 1");
  const used = new Date(Number(key!.last_used_at)).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  expect(new RegExp(`<tr data-key="${key!.id}">.*?<td>${used}</td>`).test(settings)).toBe(true);
});

test("a viewer sees the user's email and name nowhere in traits and events, not even inside free text; a phone number neither", async () => {
  await site.identify("carol", {
    email: "carol.jones@example.com",
    traits: { name: "Carol Jones", phone: 4915112345678, contact: { first: "Carol", last: "Jones" }, bio: "I am Carol Jones, write to carol.jones@example.com" },
  });
  await site.track("carol", "note_added", { note: "reach Carol Jones at carol.jones@example.com" });
  await site.process();
  const leaks = (page: string) => ["Carol", "Jones", "carol.jones", "4915112345678"].filter((s) => page.includes(s));
  expect(leaks(await (await viewer.get("/dashboard/users/carol?project=acme")).text())).toEqual([]);
  const page = await (await admin.get("/dashboard/users/carol?project=acme")).text();
  expect(leaks(page)).toEqual(["Carol", "Jones", "carol.jones", "4915112345678"]);
  expect(page).toContain("reach Carol Jones at carol.jones@example.com");
});

test("quarantine: an edit replayed from the page keeps the payload's control and bidi characters (shown as JSON escapes, not U+FFFD)", async () => {
  const label = "abc\u202Edef\u0085x";
  await site.track("ann", "bidi_evt", { label, workspaceId: "a", workspace_id: "b" });
  await site.process();
  const [item] = await site.sql("SELECT id FROM quarantine WHERE event_name = 'bidi_evt'");
  const page = await (await admin.get(`/dashboard/quarantine/${item!.id}?project=acme`)).text();
  const shown = /<textarea name="payload"[^>]*>([^<]*)<\/textarea>/.exec(page)![1]!;
  expect(shown).toContain("abc\\u202edef\\u0085x");
  // What a browser posts back: the textarea's text, with the admin's edit (one spelling of the key dropped).
  const text = shown.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  const edited = text.replace(/\s*"workspaceId": "a",/, "");
  expect((await admin.post(`/dashboard/quarantine/${item!.id}/replay`, { project: "acme", _csrf: admin.csrf, payload: edited })).status).toBe(303);
  await site.process();
  const [event] = await site.sql("SELECT properties FROM events WHERE name = 'bidi_evt'");
  expect(JSON.parse(String(event!.properties))).toEqual({ label, workspace_id: "b" });
});

test("drafts: saving a new subject keeps the text's bidi marks (an RTL name's U+200F), which the page shows as U+FFFD", async () => {
  await site.identify("noa", { email: "noa@example.com", traits: { name: "Noa\u200F Levi" } });
  await site.track("noa", "user_signed_up", { plan: "free", source: "test" });
  await site.process(true);
  const draft = (await draftOf("noa"))!;
  expect(String(draft.text_body)).toContain("Noa\u200F");
  const page = await (await admin.get(`/dashboard/drafts/${draft.id}?project=acme`)).text();
  const decode = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&#96;/g, "`").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  // What a browser posts: the text area as shown (line breaks as CRLF), and the subject the reviewer typed.
  const text = decode(/<textarea id="text" name="text"[^>]*>([^<]*)<\/textarea>/.exec(page)![1]!).replace(/\n/g, "\r\n");
  expect(text).toContain("Noa\uFFFD");
  const seen = /\/edit"><input[^>]*>(?:<input[^>]*>)*/.exec(page)![0].match(/name="seen" value="(\d+)"/)![1]!;
  const r = await admin.post(`/dashboard/drafts/${draft.id}/edit`, { project: "acme", _csrf: admin.csrf, seen, subject: "A new subject", text });
  expect(r.status).toBe(303);
  const after = (await draftOf("noa"))!;
  expect(after.subject).toBe("A new subject");
  expect(after.text_body).toBe(draft.text_body);
  expect(after.html_body).toBe(draft.html_body);
});

test("the messages page pages through every message (200 a page), not only the newest 200", async () => {
  const [draft] = await site.sql("SELECT id FROM drafts WHERE project_id = 'acme' LIMIT 1");
  // Test sends are messages like any other: more than a page of them.
  for (let i = 0; i < 201; i++) {
    expect((await admin.post(`/dashboard/drafts/${draft!.id}/test`, { project: "acme", _csrf: admin.csrf, address: `t${i}@example.com` })).status).toBe(303);
  }
  const seen: string[] = [];
  let path: string | undefined = "/dashboard/messages?project=acme";
  while (path) {
    const page = await (await admin.get(path)).text();
    const rows = [...page.matchAll(/<tr data-message="([^"]+)"/g)].map((m) => m[1]!);
    path = /<a class="btn" rel="next" href="([^"]+)"/.exec(page)?.[1]?.replaceAll("&amp;", "&");
    if (path) expect(rows).toHaveLength(200);
    seen.push(...rows);
  }
  const all = await site.sql("SELECT id FROM messages WHERE project_id = 'acme'");
  expect(all.length).toBeGreaterThan(200);
  expect(seen.sort()).toEqual(all.map((m) => String(m.id)).sort());
});

test("users search finds an external id by any part of it (zq42 finds acct_zq42_x), the exact id first, for admins and viewers", async () => {
  for (const id of ["acct_zq42_x", "acct_zq7", "zq42"]) await site.identify(id, { email: `${id}@search.example` });
  await site.process();
  const found = async (who: typeof admin, q: string) =>
    [...(await (await who.get(`/dashboard/users?project=acme&q=${encodeURIComponent(q)}`)).text()).matchAll(/<tr><td><a href="[^"]+">([^<]+)<\/a>/g)].map((m) => m[1]);
  expect(await found(admin, "zq42")).toEqual(["zq42", "acct_zq42_x"]);
  expect(await found(viewer, "zq42")).toEqual(["zq42", "acct_zq42_x"]);
  expect(await found(viewer, "CCT_ZQ7")).toEqual(["acct_zq7"]); // any case, as before
  expect(await found(viewer, "zq4_")).toEqual([]); // `_` is a character here, not LIKE's wildcard
});
