import { afterAll, beforeAll, expect, test, setDefaultTimeout } from "bun:test";
import type { Browser } from "playwright-core";
import { clickToNavigate, launchChromium, openContext, signInBrowser, traced, type SignedIn } from "./browser";
import { ADMIN, startSite, VIEWER, type Site } from "./support";

// Real Argon2id logins and a real browser: slower than the 5 s default of a bare `bun test`.
setDefaultTimeout(30_000);

let site: Site;
let browser: Browser;
/** One signed-in admin tab and one viewer tab for the whole file (each sign-in costs an Argon2id check). */
let admin: SignedIn;
let viewer: SignedIn;
beforeAll(async () => {
  [site, browser] = await Promise.all([startSite(), launchChromium()]);
  [admin, viewer] = await Promise.all([signInBrowser(browser, site.url, ADMIN), signInBrowser(browser, site.url, VIEWER)]);
});
afterAll(async () => {
  await browser?.close();
  await site?.close();
});

/** A test on the shared tabs: if it fails, the error also tells what those tabs last did. */
const tabTest = (name: string, body: () => Promise<void>) => test(name, traced(() => ({ admin, viewer }), body));

const XSS = `<img src=x onerror=alert(1)>`;

test("login, wrong password, cookie flags, logout — in Chromium", async () => {
  const context = await openContext(browser, site.url);
  const page = await context.newPage();
  await page.goto("/dashboard/users");
  expect(new URL(page.url()).pathname).toBe("/dashboard/login");
  await page.fill("#username", ADMIN.username);
  await page.fill("#password", "wrong password");
  await clickToNavigate(page, "button[type=submit]");
  await expect(page.getByRole("alert").textContent()).resolves.toContain("Wrong name or password.");
  expect((await context.cookies()).some((c) => c.name === "vf_session")).toBe(false);

  await page.fill("#username", ADMIN.username);
  await page.fill("#password", ADMIN.password);
  await Promise.all([page.waitForURL(/\/dashboard$/), page.click("button[type=submit]")]);
  expect(await page.locator("h1").textContent()).toBe("Overview");
  const cookie = (await context.cookies()).find((c) => c.name === "vf_session")!;
  expect(cookie.httpOnly).toBe(true);
  expect(cookie.sameSite).toBe("Lax");
  expect(cookie.secure).toBe(false);
  // HttpOnly: script in the page cannot read it.
  expect(await page.evaluate(() => document.cookie)).not.toContain("vf_session");

  await Promise.all([page.waitForURL(/\/dashboard\/login$/), page.click("text=Log out")]);
  await page.goto("/dashboard/settings");
  expect(new URL(page.url()).pathname).toBe("/dashboard/login");
  await context.close();
});

tabTest("CSRF in the browser: a POST with the session cookie but without the form token is 403", async () => {
  const { page } = admin;
  const bare = await page.request.post("/dashboard/settings/autopilot", { form: { project: "acme", autopilot: "on" } });
  expect(bare.status()).toBe(403);
  const wrong = await page.request.post("/dashboard/settings/autopilot", { form: { project: "acme", autopilot: "on", _csrf: "forged" } });
  expect(wrong.status()).toBe(403);
  expect((await site.sql("SELECT autopilot_override AS v FROM projects WHERE id = 'acme'"))[0]!.v).toBeNull();
});

tabTest("XSS: hostile traits and event properties render as visible text, never as markup", async () => {
  await site.identify("xss-user", { email: "x@evil.io", traits: { name: XSS, company: `"><script>alert(2)</script>`, bio: XSS } });
  await site.track("xss-user", "clicked", { label: XSS, [`<b>key</b>`]: "v" });
  await site.process();
  const { page, dialogs } = admin;
  await page.goto(`/dashboard/users?project=acme&q=xss`);
  await expect(page.getByText(XSS).first().isVisible()).resolves.toBe(true);
  await clickToNavigate(page, "text=xss-user");
  expect(page.url()).toMatch(/\/users\/xss-user/);
  await expect(page.getByText(XSS).first().isVisible()).resolves.toBe(true);
  expect(await page.locator("[data-section=traits]").textContent()).toContain(`"bio": "${XSS}"`);
  expect(await page.locator("[data-section=events]").textContent()).toContain(XSS);
  expect(await page.locator("[data-section=events]").textContent()).toContain("<b>key</b>");
  // Escaped, not just blocked: no element was made from the payload.
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(await page.locator("script").count()).toBe(0);
  expect(await page.locator("b", { hasText: "key" }).count()).toBe(0);

  // A draft made from that user: its subject and text render as text, its HTML only inside the sandboxed frame.
  await site.track("xss-user", "user_signed_up", { plan: "free", source: "test" });
  await site.process(true);
  const [draft] = await site.sql("SELECT d.id, d.subject FROM drafts d JOIN tracked_users u ON u.id = d.user_id WHERE u.external_user_id = 'xss-user'");
  const subject = String(draft!.subject); // the welcome template uses the first word of the name
  expect(subject).toContain("<img");
  await page.goto(`/dashboard/drafts/${draft!.id}?project=acme`);
  expect(await page.locator("[data-section=subject]").textContent()).toBe(subject);
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(await page.locator("iframe[title='HTML preview']").getAttribute("sandbox")).toBe("allow-same-origin");
  await page.goto(`/dashboard/drafts?project=acme`);
  expect(await page.locator(`tr[data-draft="${draft!.id}"]`).textContent()).toContain(subject);
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  await page.waitForTimeout(100);
  expect(dialogs).toEqual([]);
});

/** A user who signed up, and the welcome draft the evaluator made for them (pending review). */
async function signedUpWithDraft(id: string, name: string): Promise<{ id: string; state: string }> {
  await site.identify(id, { email: `${id}@example.com`, traits: { name } });
  await site.track(id, "user_signed_up", { plan: "free", source: "test" });
  await site.process(true);
  const [draft] = await site.sql("SELECT d.id, d.state FROM drafts d JOIN tracked_users u ON u.id = d.user_id WHERE u.external_user_id = ?", [id]);
  return { id: String(draft!.id), state: String(draft!.state) };
}

tabTest("approve a draft from the review queue; its HTML preview is in a sandboxed frame", async () => {
  const draft = await signedUpWithDraft("ann", "Ann Example");
  expect(draft.state).toBe("pending_review");

  const { page } = admin;
  await page.goto("/dashboard?project=acme");
  await clickToNavigate(page, "header >> text=Drafts");
  const row = page.locator(`tr[data-draft="${draft.id}"]`);
  await expect(row.textContent()).resolves.toContain("ann@example.com");
  await clickToNavigate(page, `a[href*="/drafts/${draft.id}"]`);
  const frame = page.locator("iframe[title='HTML preview']");
  expect(await frame.getAttribute("sandbox")).toBe("allow-same-origin");
  expect(await page.frameLocator("iframe[title='HTML preview']").locator("body").textContent()).toContain("Ann");
  await page.goto("/dashboard/drafts?project=acme");
  await Promise.all([page.waitForURL(/notice=approved/), row.locator("button", { hasText: "Approve" }).click()]);
  await expect(page.getByRole("status").textContent()).resolves.toBe("Draft approved.");
  const [after] = await site.sql("SELECT state FROM drafts WHERE id = ?", [draft.id]);
  expect(after!.state).toBe("scheduled");
  const [history] = await site.sql("SELECT actor FROM draft_history WHERE draft_id = ? AND to_state = 'scheduled'", [draft.id]);
  expect(history!.actor).toBe("dashboard:jane");
});

tabTest("edit a draft: fill the subject and click Save, as a test script does, below the HTML preview", async () => {
  const draft = await signedUpWithDraft("eve", "Eve Example");
  const { page } = admin;
  await page.goto(`/dashboard/drafts/${draft.id}?project=acme`);
  // `fill` scrolls the field into view, `click` scrolls again to Save: with the preview frame in another process,
  // that click landed in the frame and nothing was sent (3 of 3 runs).
  await page.getByLabel("Subject").fill("Edited in the browser");
  await Promise.all([page.waitForURL(/notice=edited/), page.getByRole("button", { name: "Save" }).click()]);
  await expect(page.getByRole("status").textContent()).resolves.toBe("Draft saved.");
  const [after] = await site.sql("SELECT subject FROM drafts WHERE id = ?", [draft.id]);
  expect(after!.subject).toBe("Edited in the browser");
});

tabTest("a draft's HTML preview makes the browser fetch nothing: not the dashboard (with the session cookie), not a remote image", async () => {
  const draft = await signedUpWithDraft("ivy", "Ivy Example");
  // Email HTML (a model's draft, say) that points at the dashboard and at a tracking server (a real one here).
  let pixelHits = 0;
  const tracker = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => (pixelHits++, new Response("")) });
  const html = `<p>Hi Ivy</p><img src="/dashboard/settings?probe=img"><div style="background:url('/dashboard/users?probe=css')">x</div><img src="http://127.0.0.1:${tracker.port}/pixel.gif?probe=remote">`;
  await site.server.ctx.database.execute({ sql: "UPDATE drafts SET html_body = ? WHERE id = ?", args: [html, draft.id] });
  const { page } = admin;
  // Requests that reached a server (one the CSP blocks is reported as a request that failed, with no response).
  const requested: string[] = [];
  const onRequest = (r: { url(): string }) => void requested.push(r.url());
  page.on("requestfinished", onRequest);
  try {
    await page.goto(`/dashboard/drafts/${draft.id}?project=acme`);
    expect(await page.frameLocator("iframe[title='HTML preview']").locator("body").textContent()).toContain("Hi Ivy");
    await page.waitForTimeout(300);
  } finally {
    page.off("requestfinished", onRequest);
    tracker.stop(true);
  }
  expect(requested.filter((url) => url.includes("probe="))).toEqual([]);
  expect(pixelHits).toBe(0);
});

tabTest("quarantine: inspect, edit the payload and replay; the fixed item goes through the normaliser", async () => {
  await site.identify("qq", { email: "qq@example.com" });
  await site.track("qq", "report_built", { workspaceId: "w1", workspace_id: "w2" });
  await site.process();
  const [item] = await site.sql("SELECT id, reason FROM quarantine WHERE external_user_id = 'qq' AND state = 'open'");
  expect(item).toBeDefined();

  const { page } = admin;
  await page.goto("/dashboard?project=acme");
  await clickToNavigate(page, "header >> text=Quarantine");
  await clickToNavigate(page, `text=${item!.id}`);
  const textarea = page.locator("textarea[name=payload]");
  const payload = JSON.parse(await textarea.inputValue());
  expect(payload.properties).toEqual({ workspaceId: "w1", workspace_id: "w2" });
  delete payload.properties.workspace_id;
  await textarea.fill(JSON.stringify(payload, null, 2));
  await Promise.all([page.waitForURL(/notice=replayed/), page.click("text=Replay (with these edits)")]);
  expect(await page.locator("[data-state]").first().getAttribute("data-state")).toBe("replayed");
  await site.process();
  const events = await site.sql("SELECT e.properties FROM events e JOIN tracked_users u ON u.id = e.user_id WHERE u.external_user_id = 'qq' AND e.name = 'report_built'");
  expect(events.map((e) => JSON.parse(String(e.properties)))).toEqual([{ workspace_id: "w1" }]);
});

tabTest("quarantine in bulk: select two and discard them", async () => {
  for (const id of ["b1", "b2"]) {
    await site.identify(id, { email: `${id}@example.com` });
    await site.track(id, "x", { aB: 1, a_b: 2 });
  }
  await site.process();
  const open = await site.sql("SELECT id FROM quarantine WHERE external_user_id IN ('b1', 'b2') AND state = 'open'");
  expect(open.length).toBe(2);
  const { page } = admin;
  await page.goto("/dashboard/quarantine?project=acme");
  for (const r of open) await page.check(`input[name=ids][value="${r.id}"]`);
  await clickToNavigate(page, "text=Discard selected");
  await expect(page.getByRole("status").textContent()).resolves.toContain("Discarded 2 item(s).");
  const states = await site.sql("SELECT state FROM quarantine WHERE external_user_id IN ('b1', 'b2')");
  expect(states.map((s) => s.state)).toEqual(["discarded", "discarded"]);
});

tabTest("API keys: created and shown once, works, then revoked and refused", async () => {
  const { page } = admin;
  await page.goto("/dashboard?project=acme");
  await clickToNavigate(page, "header >> text=Settings");
  await page.fill("input[name=name]", "backend");
  await clickToNavigate(page, "text=Create key");
  const key = (await page.locator("[data-new-key]").textContent())!.trim();
  expect(key).toMatch(/^sk_live_[0-9a-z]{40}$/);
  const ingest = (k: string) =>
    fetch(`${site.url}/api/v1/users`, { method: "POST", headers: { authorization: `Bearer ${k}`, "content-type": "application/json" }, body: JSON.stringify({ external_user_id: "via-new-key" }) });
  expect((await ingest(key)).status).toBe(202);

  // Shown once: the settings page never shows it again, only its display form.
  await page.goto("/dashboard/settings?project=acme");
  expect(await page.content()).not.toContain(key);
  const row = page.locator("tr", { hasText: "backend" });
  expect(await row.textContent()).toContain(`${key.slice(0, 16)}…${key.slice(-4)}`);
  await Promise.all([page.waitForURL(/notice=revoked/), row.locator("button", { hasText: "Revoke" }).click()]);
  expect(await page.locator("tr", { hasText: "backend" }).textContent()).toContain("revoked");
  expect((await ingest(key)).status).toBe(401);
});

tabTest("the autopilot switch changes what the drafts get; the project switcher scopes it", async () => {
  const { page } = admin;
  await page.goto("/dashboard/settings?project=acme");
  expect(await page.locator("[data-autopilot]").getAttribute("data-autopilot")).toBe("off");
  await page.check("input[name=autopilot][value=on]");
  await Promise.all([page.waitForURL(/notice=autopilot/), page.click("form[action='/dashboard/settings/autopilot'] button")]);
  expect(await page.locator("[data-autopilot]").getAttribute("data-autopilot")).toBe("on");
  const rows = await site.sql("SELECT id, autopilot_override AS v FROM projects ORDER BY id");
  expect(rows).toEqual([{ id: "acme", v: 1 }, { id: "beta", v: null }]);

  // Autopilot on: a new match is scheduled without review.
  await site.identify("auto", { email: "auto@example.com" });
  await site.track("auto", "user_signed_up", { plan: "free", source: "test" });
  await site.process(true);
  const [draft] = await site.sql("SELECT d.state FROM drafts d JOIN tracked_users u ON u.id = d.user_id WHERE u.external_user_id = 'auto'");
  expect(draft.state).toBe("scheduled");

  await page.selectOption("select[name=project]", "beta");
  await clickToNavigate(page, "text=Switch");
  expect(new URL(page.url()).searchParams.get("project")).toBe("beta");
  expect(await page.locator("[data-autopilot]").getAttribute("data-autopilot")).toBe("off");
});

tabTest("a viewer sees masked PII, no action buttons, and a forged action is 403", async () => {
  await site.identify("vmask", { email: "maria.garcia@example.org", traits: { name: "Maria Garcia" } });
  await site.process();
  const { page } = viewer;
  await page.goto("/dashboard/users/vmask?project=acme");
  const text = (await page.locator("main").textContent())!;
  expect(text).toContain("m***@e***.org");
  expect(text).toContain("M*** G***");
  expect(text).not.toContain("maria");
  expect(text).not.toContain("Garcia");
  await page.goto("/dashboard/drafts?project=acme&state=all");
  expect(await page.locator("button", { hasText: "Approve" }).count()).toBe(0);
  await page.goto("/dashboard/settings?project=acme");
  expect(await page.locator("button", { hasText: "Create key" }).count()).toBe(0);
  const csrf = await page.locator("input[name=_csrf]").first().inputValue();
  const forged = await page.request.post("/dashboard/settings/keys", { form: { project: "acme", name: "viewer-key", _csrf: csrf } });
  expect(forged.status()).toBe(403);
  expect(await site.sql("SELECT name FROM api_keys WHERE name = 'viewer-key'")).toEqual([]);
});

tabTest("the overview shows the figures, and looks like a dashboard (screenshot)", async () => {
  await site.track("ann", "opened_app");
  await site.process();
  const { page } = admin;
  await page.setViewportSize({ width: 1200, height: 700 });
  await page.goto("/dashboard?project=acme");
  const stat = async (id: string) => (await page.locator(`[data-stat="${id}"] .n`).textContent())!.trim();
  // Every event of this file arrived within the hour; at least the one just sent within the minute.
  const [events] = await site.sql("SELECT count(*) AS n FROM events WHERE project_id = 'acme'");
  expect(Number(await stat("events-hour"))).toBe(Number(events!.n));
  expect(Number(await stat("events-minute"))).toBeGreaterThanOrEqual(1);
  expect(Number(await stat("events-minute"))).toBeLessThanOrEqual(Number(events!.n));
  expect(Number(await stat("queue-depth"))).toBe(0);
  const [open] = await site.sql("SELECT count(*) AS n FROM quarantine WHERE project_id = 'acme' AND state = 'open'");
  expect(Number(await stat("quarantine-open"))).toBe(Number(open!.n));
  await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT ?? `${site.server.dir}/overview.png`, fullPage: true });
});
