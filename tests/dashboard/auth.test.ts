import { afterAll, afterEach, beforeAll, expect, test, setDefaultTimeout } from "bun:test";
import { createHash } from "node:crypto";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { ADMIN, signIn, startSite, VIEWER, type Site } from "./support";

// Real Argon2id logins and a real browser: slower than the 5 s default of a bare `bun test`.
setDefaultTimeout(30_000);

let site: Site;
/** Sessions shared by the tests that do not end them (each sign-in costs an Argon2id check). */
let admin: Awaited<ReturnType<typeof signIn>>;
let viewer: Awaited<ReturnType<typeof signIn>>;
beforeAll(async () => {
  site = await startSite();
  [admin, viewer] = await Promise.all([signIn(site.url, ADMIN), signIn(site.url, VIEWER)]);
});
afterAll(() => site.close());
afterEach(() => setClock(systemClock));

test("without a session every page redirects to the login form; a POST is refused", async () => {
  for (const path of ["/dashboard", "/dashboard/users", "/dashboard/settings", "/dashboard/messages/msg_x.eml"]) {
    const res = await fetch(site.url + path, { redirect: "manual" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/dashboard/login");
  }
  const post = await fetch(`${site.url}/dashboard/settings/autopilot`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "autopilot=on&project=acme",
  });
  expect(post.status).toBe(403);
});

test("login: a wrong password or an unknown name is 401 and sets no session; the login form needs its token", async () => {
  const wrong = await signIn(site.url, { username: ADMIN.username, password: "nope" });
  expect(wrong.res.status).toBe(401);
  expect(wrong.setCookie).toBe("");
  expect(await wrong.res.text()).toContain("Wrong name or password.");
  const unknown = await signIn(site.url, { username: "nobody", password: ADMIN.password });
  expect(unknown.res.status).toBe(401);

  const noToken = await fetch(`${site.url}/dashboard/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(ADMIN),
  });
  expect(noToken.status).toBe(403);
  expect(noToken.headers.getSetCookie().some((c) => c.startsWith("vf_session="))).toBe(false);
});

test("login sets an HttpOnly SameSite session cookie (not Secure over http); the DB keeps only the token's hash", async () => {
  const s = await signIn(site.url, ADMIN);
  expect(s.res.status).toBe(303);
  expect(s.res.headers.get("location")).toBe("/dashboard");
  expect(s.setCookie).toContain("HttpOnly");
  expect(s.setCookie).toContain("SameSite=Lax");
  expect(s.setCookie).toContain("Path=/dashboard");
  expect(s.setCookie).not.toContain("Secure");
  expect(s.token.length).toBeGreaterThanOrEqual(43);
  const rows = await site.sql("SELECT token_hash, expires_at, created_at FROM dashboard_sessions");
  const hashes = rows.map((r) => r.token_hash);
  expect(hashes).toContain(createHash("sha256").update(s.token).digest("hex"));
  expect(hashes).not.toContain(s.token);
  const again = await s.get("/dashboard/login");
  expect(again.status).toBe(303);
  expect(again.headers.get("location")).toBe("/dashboard");
  const page = await s.get("/dashboard");
  expect(page.status).toBe(200);
  expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
  expect(page.headers.get("cache-control")).toBe("no-store");
  expect(await page.text()).toContain("Overview");
});

test("an https public_url makes the session cookie Secure", async () => {
  const secure = await startSite(`[server]\npublic_url = "https://vf.example.com"\n`);
  try {
    const s = await signIn(secure.url, ADMIN);
    expect(s.res.status).toBe(303);
    expect(s.setCookie).toMatch(/; Secure/);
  } finally {
    await secure.close();
  }
});

test("behind a proxy that sends its upstream address as Host, a form posted from the public_url's pages is accepted; another origin is not", async () => {
  const proxied = await startSite(`[server]\npublic_url = "https://vf.example.com"\n`);
  try {
    const s = await signIn(proxied.url, ADMIN);
    const autopilot = async () => (await proxied.sql("SELECT autopilot_override AS v FROM projects WHERE id = 'acme'"))[0]!.v;
    // fetch sends Host 127.0.0.1:<port>, as nginx's default proxy_pass does; the browser's Origin is the public one.
    for (const origin of ["https://evil.example", "https://vf.example.com.evil.example", "null"]) {
      expect((await s.post("/dashboard/settings/autopilot", { project: "acme", autopilot: "on", _csrf: s.csrf }, { origin })).status).toBe(403);
    }
    expect(await autopilot()).toBeNull();
    const ok = await s.post("/dashboard/settings/autopilot", { project: "acme", autopilot: "on", _csrf: s.csrf }, { origin: "https://vf.example.com" });
    expect(ok.status).toBe(303);
    expect(await autopilot()).toBe(1);
  } finally {
    await proxied.close();
  }
});

test("CSRF: a POST without the token, with a wrong one, or from another origin is 403 and changes nothing", async () => {
  const s = admin;
  const autopilot = async () => (await site.sql("SELECT autopilot_override AS v FROM projects WHERE id = 'acme'"))[0]!.v;
  expect(await autopilot()).toBeNull();
  expect((await s.post("/dashboard/settings/autopilot", { project: "acme", autopilot: "on" })).status).toBe(403);
  expect((await s.post("/dashboard/settings/autopilot", { project: "acme", autopilot: "on", _csrf: "x".repeat(s.csrf.length) })).status).toBe(403);
  // Another session's token is no good either: tokens are per session.
  const other = viewer;
  expect(other.csrf).not.toBe(s.csrf);
  expect((await s.post("/dashboard/settings/autopilot", { project: "acme", autopilot: "on", _csrf: other.csrf })).status).toBe(403);
  expect(
    (await s.post("/dashboard/settings/autopilot", { project: "acme", autopilot: "on", _csrf: s.csrf }, { origin: "https://evil.example" })).status,
  ).toBe(403);
  // A JSON body cannot carry the form token.
  const json = await fetch(`${site.url}/dashboard/settings/autopilot`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie: `vf_session=${s.token}` },
    body: JSON.stringify({ project: "acme", autopilot: "on", _csrf: s.csrf }),
  });
  expect(json.status).toBe(403);
  expect(await autopilot()).toBeNull();

  const ok = await s.post("/dashboard/settings/autopilot", { project: "acme", autopilot: "on", _csrf: s.csrf });
  expect(ok.status).toBe(303);
  expect(await autopilot()).toBe(1);
  await s.post("/dashboard/settings/autopilot", { project: "acme", autopilot: "config", _csrf: s.csrf });
  expect(await autopilot()).toBeNull();
  // The form's media type in capitals is the same type (RFC 9110): accepted, token checked as ever.
  const upper = await s.post("/dashboard/settings/autopilot", { project: "acme", autopilot: "on", _csrf: s.csrf }, { "content-type": "APPLICATION/X-WWW-FORM-URLENCODED" });
  expect(upper.status).toBe(303);
  expect(await autopilot()).toBe(1);
  await s.post("/dashboard/settings/autopilot", { project: "acme", autopilot: "config", _csrf: s.csrf });
});

test("a viewer can read but every action is 403, with a valid token", async () => {
  const v = viewer;
  expect(v.res.status).toBe(303);
  expect((await v.get("/dashboard/settings")).status).toBe(200);
  const keysBefore = await site.sql("SELECT count(*) AS n FROM api_keys");
  for (const [path, fields] of [
    ["/dashboard/settings/autopilot", { autopilot: "on" }],
    ["/dashboard/settings/keys", { name: "sneaky" }],
    ["/dashboard/rules/evaluate", {}],
    ["/dashboard/quarantine/bulk", { action: "discard", ids: "qtn_x" }],
    ["/dashboard/drafts/drf_x/approve", {}],
  ] as const) {
    const res = await v.post(path, { project: "acme", _csrf: v.csrf, ...fields });
    expect(res.status).toBe(403);
  }
  expect((await v.get("/dashboard/messages/msg_x.eml?project=acme")).status).toBe(403);
  expect(await site.sql("SELECT count(*) AS n FROM api_keys")).toEqual(keysBefore);
  expect((await site.sql("SELECT autopilot_override AS v FROM projects WHERE id = 'acme'"))[0]!.v).toBeNull();
  const settings = await (await v.get("/dashboard/settings")).text();
  expect(settings).not.toContain("Create key");
});

test("a viewer sees email and name masked everywhere; an admin sees them in full", async () => {
  await site.identify("u-mask", { email: "jane.doe@acme.io", traits: { name: "Jane Doe", plan: "pro" } });
  await site.track("u-mask", "user_invited", { invitedEmail: "bob.smith@corp.io" });
  await site.process();
  const v = viewer;
  const a = admin;
  for (const path of ["/dashboard/users?project=acme", "/dashboard/users/u-mask?project=acme"]) {
    const viewer = await (await v.get(path)).text();
    expect(viewer).toContain("j***@a***.io");
    expect(viewer).toContain("J*** D***");
    expect(viewer).not.toContain("jane.doe");
    expect(viewer).not.toContain("Jane Doe");
    expect(viewer).not.toContain("bob.smith");
    const admin = await (await a.get(path)).text();
    expect(admin).toContain("jane.doe@acme.io");
    expect(admin).toContain("Jane Doe");
  }
  // Viewers cannot search by email (a masked result would still confirm a guessed address).
  expect(await (await v.get("/dashboard/users?project=acme&q=jane.doe")).text()).not.toContain("u-mask");
  expect(await (await a.get("/dashboard/users?project=acme&q=jane.doe")).text()).toContain("u-mask");
});

test("logout ends the session server-side; an expired session is refused", async () => {
  const s = await signIn(site.url, ADMIN);
  expect((await s.get("/dashboard")).status).toBe(200);
  const out = await s.post("/dashboard/logout", { _csrf: s.csrf });
  expect(out.status).toBe(303);
  expect(out.headers.get("set-cookie")).toContain("Max-Age=0");
  const after = await s.get("/dashboard");
  expect(after.status).toBe(303);
  expect(after.headers.get("location")).toBe("/dashboard/login");

  const clock = manualClock(Date.now());
  setClock(clock);
  const t = await signIn(site.url, ADMIN);
  expect((await t.get("/dashboard")).status).toBe(200);
  clock.advance(11 * 3_600_000);
  expect((await t.get("/dashboard")).status).toBe(200);
  clock.advance(2 * 3_600_000);
  expect((await t.get("/dashboard")).status).toBe(303);
});

test("a new password or a removed account ends the account's sessions", async () => {
  const { removeAdmin, addAdmin, setAdminPassword } = await import("../../src/dashboard/accounts");
  const database = site.server.ctx.database;
  await addAdmin(database, "temp", "temporary password", "admin");
  const s = await signIn(site.url, { username: "temp", password: "temporary password" });
  expect((await s.get("/dashboard")).status).toBe(200);
  expect(await setAdminPassword(database, "temp", "another password")).toBe(true);
  expect((await s.get("/dashboard")).status).toBe(303);
  const t = await signIn(site.url, { username: "temp", password: "another password" });
  expect((await t.get("/dashboard")).status).toBe(200);
  expect(await removeAdmin(database, "temp")).toBe(true);
  expect((await t.get("/dashboard")).status).toBe(303);
  expect(await site.sql("SELECT s.id FROM dashboard_sessions s JOIN admin_users a ON a.id = s.admin_id WHERE a.username = 'temp'")).toEqual([]);
  expect(await removeAdmin(database, "temp")).toBe(false);
  expect(await setAdminPassword(database, "temp", "whatever password")).toBe(false);
});

test("unknown pages and projects are 404 pages, not errors", async () => {
  const s = admin;
  expect((await s.get("/dashboard/nope")).status).toBe(404);
  expect((await s.get("/dashboard/users?project=zzz")).status).toBe(404);
  expect((await s.get("/dashboard/drafts/drf_missing?project=acme")).status).toBe(404);
  expect((await s.get("/dashboard/users/%E0%A4%A?project=acme")).status).toBe(404);
});

test("password guessing: after 10 failures for a name, that name is refused (429) for 15 minutes, right password or not", async () => {
  const clock = manualClock(Date.now());
  setClock(clock);
  const attempt = async (password: string) => {
    const form = await fetch(`${site.url}/dashboard/login`);
    const cookie = /vf_login=([^;]+)/.exec(form.headers.get("set-cookie") ?? "")![1];
    const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    return fetch(`${site.url}/dashboard/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: `vf_login=${cookie}` },
      body: new URLSearchParams({ _csrf: token, username: VIEWER.username, password }),
    });
  };
  // Empty passwords fail without an Argon2id check, which keeps this test fast; they count all the same.
  for (let i = 0; i < 10; i++) expect((await attempt("")).status).toBe(401);
  const blocked = await attempt(VIEWER.password);
  expect(blocked.status).toBe(429);
  expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(800);
  expect(blocked.headers.getSetCookie().some((c) => c.startsWith("vf_session="))).toBe(false);
  // Other names are not affected.
  expect((await signIn(site.url, ADMIN)).res.status).toBe(303);
  clock.advance(15 * 60_000 + 1);
  expect((await attempt(VIEWER.password)).status).toBe(303);
});
