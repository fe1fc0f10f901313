import { expect, test } from "bun:test";
import { ConfigError, parseConfigText } from "../../src/config/load";
import { DEFAULT_TEMPLATES, listDrafts, renderTemplates, templateFor } from "../../src/drafts";
import { finishContent } from "../../src/drafts/render";
import { DEFAULT_RULES } from "../../src/rules";
import { ONLY_WELCOME, startWorld } from "./support";

const context = {
  user: { first_name: "Ann", name: "Ann Lee", trial_ends_at: "2026-03-05T00:00:00.000Z" },
  event: { name: "payment_failed", properties: { reason: "card expired" } },
  project: { id: "acme", name: "Acme", signature: "Jane at Acme" },
  rule: { id: "x", kind: "welcome" },
  unsubscribe_url: "https://vf.example.com/u/abc.def",
};

test("every default rule has a short, personal default template that renders cleanly", () => {
  expect(Object.keys(DEFAULT_TEMPLATES).sort()).toEqual(DEFAULT_RULES.map((r) => r.id).sort());
  for (const rule of DEFAULT_RULES) {
    const r = renderTemplates(templateFor(rule as never), context);
    expect(r.subject.length).toBeGreaterThan(5);
    expect(r.subject.length).toBeLessThan(60);
    expect(r.text).toStartWith("Hi Ann,");
    expect(r.text).toContain("Jane at Acme");
    expect(r.text).toContain("https://vf.example.com/u/abc.def"); // the footer
    expect(r.html).toContain('<a href="https://vf.example.com/u/abc.def">Unsubscribe</a>');
    expect(r.text + r.subject).not.toMatch(/\{\{|\{%|undefined|null/);
    expect(r.text.split(/\s+/).length).toBeLessThan(120);
  }
  expect(renderTemplates(DEFAULT_TEMPLATES.payment_failed!, context).text).toContain("(card expired)");
  expect(renderTemplates(DEFAULT_TEMPLATES.trial_expiring!, context).text).toContain("ends on March 5");
  expect(renderTemplates(DEFAULT_TEMPLATES.welcome!, { ...context, user: {} }).text).toStartWith("Hi there,");
});

test("HTML templates escape what users send; a rule's partial template keeps the default for the rest", () => {
  const evil = { ...context, user: { first_name: "<script>alert(1)</script>" } };
  const r = renderTemplates({ subject: "Hi {{ user.first_name }}", text: "t", html: "<p>Hi {{ user.first_name }}</p>" }, evil);
  expect(r.html).toContain("&lt;script&gt;");
  expect(r.html).not.toContain("<script>");
  expect(r.subject).toBe("Hi <script>alert(1)</script>"); // a subject is plain text: MIME encodes it
  const partial = templateFor({ id: "welcome", kind: "welcome", template: { subject: "Hey {{ user.first_name }}" } });
  expect(partial.subject).toBe("Hey {{ user.first_name }}");
  expect(partial.text).toBe(DEFAULT_TEMPLATES.welcome!.text);
  // Either spelling of a property works (SPEC §3).
  expect(renderTemplates({ subject: "{{ event.properties.trialDays }}/{{ event.properties.trial_days }}", text: "x" }, { event: { properties: { trial_days: 3, trialDays: 3 } } }).subject).toBe("3/3");
});

test("a template that would loop for long is stopped, quickly, like any template that fails to render", () => {
  for (const source of ["{% for i in (1..100000000) %}{% endfor %}x", "{% for i in (1..100000) %}{% for j in (1..1000) %}{% endfor %}{% endfor %}"]) {
    const started = performance.now();
    expect(() => renderTemplates({ subject: "s", text: source }, context)).toThrow(/limit exceeded/);
    expect(performance.now() - started).toBeLessThan(1_000);
  }
});

test("a broken template stops the config with its path and rule id", () => {
  const toml = `[[projects]]\nid = "acme"\n[[projects.rules]]\nid = "welcome"\ntemplate = { subject = "Hi {{ user.name ", text = "ok {{ user.name | no_such_filter }}", html = "{% if %}" }\n`;
  let error: ConfigError | undefined;
  try {
    parseConfigText(toml, "bad.toml");
  } catch (e) {
    error = e as ConfigError;
  }
  expect(error).toBeInstanceOf(ConfigError);
  const paths = error!.problems.map((p) => p.path);
  expect(paths).toEqual(["projects[0].rules[0].template.subject", "projects[0].rules[0].template.text", "projects[0].rules[0].template.html"]);
  expect(error!.problems[0]!.expected).toContain('rule "welcome"');
  expect(error!.problems[1]!.found).toContain("no_such_filter");
});

test("a broken template is reported beside the config's other problems, not only once they are fixed", () => {
  const toml = `[server]\nlisten = 8080\n[[projects]]\nid = "acme"\n[[projects.rules]]\nid = "welcome"\ntemplate = { subject = "Hi {{ user.name " }\n`;
  let error: ConfigError | undefined;
  try {
    parseConfigText(toml, "bad.toml");
  } catch (e) {
    error = e as ConfigError;
  }
  expect(error!.problems.map((p) => p.path).sort()).toEqual(["projects[0].rules[0].template.subject", "server.listen"]);
});

test("templates see user traits, the triggering event and either spelling of keys", async () => {
  const tpl = `[[projects.rules]]\nid = "welcome"\ntemplate = { subject = "{{ user.company }} on {{ event.properties.plan }}", text = "Plan {{ event.plan }} via {{ event.properties.source }}; team {{ user.teamSize }}/{{ user.traits.team_size }}; {{ rule.id }} for {{ project.name }}" }\n`;
  const w = await startWorld(ONLY_WELCOME.replace(/\[\[projects\.rules\]\]\nid = "onboarding_stalled"/, `${tpl}[[projects.rules]]\nid = "onboarding_stalled"`));
  await w.identify("zed", undefined, { company: "Zed Inc", teamSize: 7 });
  await w.track("zed", "user_signed_up", { plan: "pro", source: "ads" });
  await w.evaluate();
  const [d] = await listDrafts(w.server.ctx.database);
  expect(d!.subject).toBe("Zed Inc on pro");
  expect(d!.text).toStartWith("Plan pro via ads; team 7/7; welcome for Acme");
});

test("a draft whose rule template failed to render says so in its history, and carries the default text", async () => {
  const looping = `[[projects.rules]]\nid = "welcome"\ntemplate = { subject = "Hi", text = "{% for i in (1..100000000) %}{% endfor %}x" }\n`;
  const w = await startWorld(looping);
  await w.signUp("ann");
  await w.evaluate();
  const [d] = await listDrafts(w.server.ctx.database);
  expect(d!.text).toContain(DEFAULT_TEMPLATES.welcome!.text!.split("{{")[0]!.trim());
  const [h] = await w.sql("SELECT note FROM draft_history WHERE draft_id = ?", [d!.id]);
  expect(String(h!.note)).toMatch(/^waiting for review; the rule's template failed \(.*limit exceeded.*\), the default was used$/);
});

test("a rule subject that renders empty gets the default subject (the rule's text stays), and the history says so", async () => {
  const w = await startWorld(`[[projects.rules]]\nid = "welcome"\ntemplate = { subject = "{{ user.company }}", text = "Our own words." }\n`);
  await w.signUp("ann"); // no company
  await w.evaluate();
  const [d] = await listDrafts(w.server.ctx.database);
  expect(d!.subject).toBe("Welcome to Acme, Ann"); // the default welcome subject
  expect(d!.subject.trim()).not.toBe("");
  expect(d!.text).toStartWith("Our own words.");
  const [h] = await w.sql("SELECT note FROM draft_history WHERE draft_id = ?", [d!.id]);
  expect(String(h!.note)).toBe("waiting for review; the rule's subject rendered empty, the default subject was used");
});

test("a subject carries no control characters a client's name brought (ESC, BEL), and no line breaks", () => {
  const done = finishContent({ subject: "Hi \u001b[31mEve\u0007\r\nBcc: x", text: "Hi\u0007", html: "<p>Hi</p>" }, "");
  expect(done.subject).toBe("Hi [31mEve  Bcc: x");
  expect(done.text).toBe("Hi\u0007"); // the body is the template's business; only NUL is dropped there
});

test("the HTML made from a template's text keeps an RTL name's bidi marks, as the text does (no U+FFFD in the email)", () => {
  const name = "\u05E0\u05D5\u05E2\u200F";
  const out = renderTemplates({ subject: "Hi", text: "Hi {{ user.first_name }} & <you>" }, { ...context, user: { first_name: name } });
  expect(out.text).toContain(`Hi ${name} & <you>`);
  expect(out.html).toContain(`Hi ${name} &amp; &lt;you&gt;`);
  expect(out.html).not.toContain("\uFFFD");
});

test("a template reads a key in any spelling, nested objects and acronyms too, and a loop or | json sees each key once", async () => {
  // SPEC §3: workspaceId ≡ workspace_id, and templates may use either spelling. Top-level keys are stored snake_case,
  // nested ones as sent: a template asking for the other spelling still finds them, and the sender's own spelling
  // (docURL, stored doc_url) works too.
  const tpl = `[[projects.rules]]
id = "welcome"
template = { subject = "{{ event.properties.docURL }}|{{ event.properties.doc_url }}|{{ user.traits.linkedInURL }}|{{ user.linked_in_url }}", text = """
nested {{ event.properties.billing.planName }}/{{ event.properties.billing.plan_name }}/{{ event.billing.plan_name }} {{ event.properties.billing.seatCount }}/{{ event.properties.billing.seat_count }}
items {% for i in event.properties.line_items %}{{ i.unitPrice }}/{{ i.unit_price }};{% endfor %} {{ event.properties.lineItems.first.unit_price }}
top {{ event.properties.refCode }}/{{ event.properties.ref_code }} {{ user.teamSize }}/{{ user.team_size }}/{{ user.traits.teamSize }} {{ user.signupDate | date: "%Y" }} {{ event.occurredAt | date: "%Y" }} {{ rule.id }}
keys{% for p in event.properties %} {{ p[0] }}{% endfor %}
json {{ event.properties.billing | json }}
""" }
`;
  const w = await startWorld(ONLY_WELCOME.replace(/\[\[projects\.rules\]\]\nid = "onboarding_stalled"/, `${tpl}[[projects.rules]]\nid = "onboarding_stalled"`));
  await w.identify("zed", undefined, { linkedInURL: "https://in/zed", teamSize: 7 });
  await w.track("zed", "user_signed_up", { plan: "pro", refCode: "R1", docURL: "https://d", billing: { planName: "Gold", seat_count: 3 }, lineItems: [{ unitPrice: 5 }] });
  await w.evaluate();
  const [d] = await listDrafts(w.server.ctx.database);
  expect(d!.subject).toBe("https://d|https://d|https://in/zed|https://in/zed");
  const lines = d!.text.split("\n");
  expect(lines[0]).toBe("nested Gold/Gold/Gold 3/3");
  expect(lines[1]).toBe("items 5/5; 5");
  expect(lines[2]).toBe("top R1/R1 7/7/7 2026 2026 welcome");
  expect(lines[3]).toBe("keys plan ref_code doc_url billing line_items"); // each key once, as stored
  expect(lines[4]).toBe(`json {"planName":"Gold","seat_count":3}`);
});

test("user.traits holds the known traits an identify sent too (name, plan, company, role, signup_date), beside the others", async () => {
  // name, plan… are sent inside `traits` (SPEC §3) but live in their own columns (SPEC §2): a template reading them
  // back where they were sent finds them, as it finds them on `user`.
  const tpl = `[[projects.rules]]\nid = "welcome"\ntemplate = { subject = "{{ user.traits.name }}|{{ user.traits.plan }}|{{ user.traits.company }}|{{ user.traits.role }}|{{ user.traits.signupDate | date: '%Y-%m-%d' }}|{{ user.traits.color }}|{{ user.name }}", text = "x" }\n`;
  const w = await startWorld(ONLY_WELCOME.replace(/\[\[projects\.rules\]\]\nid = "onboarding_stalled"/, `${tpl}[[projects.rules]]\nid = "onboarding_stalled"`));
  await w.identify("zed", undefined, { name: "Zed Lee", plan: "pro", company: "Zed Inc", role: "cto", signupDate: "2026-01-02T10:00:00Z", color: "red" });
  await w.track("zed", "user_signed_up", {});
  await w.evaluate();
  const [d] = await listDrafts(w.server.ctx.database);
  expect(d!.subject).toBe("Zed Lee|pro|Zed Inc|cto|2026-01-02|red|Zed Lee");
});

test("an HTML template's own | escape (or escape_once) escapes once: a name reads as written, not as &amp;lt;", () => {
  // The HTML engine escapes every output already; Liquid templates brought from elsewhere still write | escape.
  const user = { name: `<script>Tom & "Jerry"</script>`, bio: "a &amp; b" };
  const html = (source: string) => renderTemplates({ subject: "s", text: "t", html: source }, { ...context, user }).html.split('<p style="color:#888')[0];
  const once = "&lt;script&gt;Tom &amp; &#34;Jerry&#34;&lt;/script&gt;";
  expect(html("<p>{{ user.name }}</p>")).toBe(`<p>${once}</p>`);
  expect(html("<p>{{ user.name | escape }}</p>")).toBe(`<p>${once}</p>`);
  expect(html("<p>{{ user.name | escape_once }}</p>")).toBe(`<p>${once}</p>`);
  expect(html("<p>{{ user.bio | escape_once }}</p>")).toBe("<p>a &amp; b</p>"); // an entity already there stays one
  expect(html("<p>{{ user.name | default: 'x' | escape }}</p>")).toBe(`<p>${once}</p>`);
  // The text part is not HTML: there | escape does what it says, and nothing else is escaped.
  expect(renderTemplates({ subject: "{{ user.name }}", text: "{{ user.name | escape }}" }, { ...context, user }).text).toStartWith(once);
});

test("a rule template with html and no text gets its plain text from that html, not the default template's text", async () => {
  // Otherwise the two parts of one multipart/alternative email say different things: a client showing the text part
  // would show the default welcome, not the rule's own message.
  const tpl = `[[projects.rules]]
id = "welcome"
template = { subject = "Your workspace", html = """<html><head><style>p{color:red}</style></head><body>
<h1>Hi {{ user.name }} &amp; team</h1><p>Your workspace is <b>ready</b>.<br>Open it: <a href="https://app.acme.io/w?x=1&amp;y=2">the app</a></p>
<ul><li>one</li><li>two</li></ul><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>""" }
`;
  const w = await startWorld(ONLY_WELCOME.replace(/\[\[projects\.rules\]\]\nid = "onboarding_stalled"/, `${tpl}[[projects.rules]]\nid = "onboarding_stalled"`));
  await w.signUp("ann");
  await w.evaluate();
  const [d] = await listDrafts(w.server.ctx.database);
  const url = /https:\/\/vf\.example\.com\/u\/\S+?(?=")/.exec(d!.html)![0];
  expect(d!.text).toBe(`Hi Ann Example & team\n\nYour workspace is ready.\nOpen it: the app (https://app.acme.io/w?x=1&y=2)\n\none\ntwo\n\nUnsubscribe (${url})`);
  expect(d!.html).toContain("<h1>Hi Ann Example &amp; team</h1>");
  expect(d!.html).not.toContain("Don't want these emails?"); // it shows the link itself
});

test("rules whose match names no event still give templates their triggering event: the cancellation, the trial reminder, the stalled step", async () => {
  const w = await startWorld(`review_window = "0s"
[[projects.rules]]
id = "cancellation_save"
delay = "0s"
template = { subject = "About your cancellation", text = "You left because: {{ event.properties.reason }} ({{ event.name }})" }
[[projects.rules]]
id = "trial_expiring"
template = { subject = "Trial", text = "{{ event.name }}: {{ event.properties.daysLeft }} days left" }
[[projects.rules]]
id = "onboarding_stalled"
template = { subject = "Stuck?", text = "Stuck at {{ event.properties.step }}?" }`);
  await w.signUp("ann");
  await w.track("ann", "subscription_cancelled", { reason: "too expensive" });
  await w.signUp("bob");
  await w.track("bob", "trial_started", { trialDays: 14 });
  await w.track("bob", "trial_expiring", { daysLeft: 5 });
  await w.signUp("cat");
  await w.track("cat", "onboarding_step", { step: "connect_repo" });
  w.clock.advance(3 * 86_400_000);
  await w.evaluate();
  const texts = await w.sql("SELECT rule_id, text_body FROM drafts WHERE rule_id IN ('cancellation_save', 'trial_expiring', 'onboarding_stalled') ORDER BY rule_id");
  expect(texts.map((d) => [d.rule_id, String(d.text_body).split("\n")[0]])).toEqual([
    ["cancellation_save", "You left because: too expensive (subscription_cancelled)"],
    ["onboarding_stalled", "Stuck at connect_repo?"],
    ["trial_expiring", "trial_expiring: 5 days left"],
  ]);
  expect((await w.sql("SELECT count(*) AS n FROM drafts WHERE rule_id = 'cancellation_save' AND event_id IS NOT NULL"))[0]!.n).toBe(1);
});
