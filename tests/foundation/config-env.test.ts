import { expect, test } from "bun:test";
import { ConfigError, parseConfigText } from "../../src/config/load";
import { resolveRules } from "../../src/rules/resolve";

/**
 * SPEC §1: "Any string value may be taken from the environment as "${ENV_NAME}"" — every string, wherever it sits:
 * section keys, nested and inline tables, arrays, rule templates, webhook secrets. Text that only looks like a
 * reference (a Liquid "${{ price }}", a "$5") is kept as written.
 */
const TOML = `
[server]
listen = "\${VF_LISTEN}"
[database]
url = "\${VF_DB}"
[smtp]
url = "smtps://mailer:\${VF_PW}@smtp.example.com:465"
[[projects]]
id = "\${VF_ID}"
timezone = "\${VF_TZ}"
send_window = { start = "\${VF_START}", days = ["\${VF_DAY}", "tue"] }
sender = { from = "Jane <\${VF_FROM}>" }
  [[projects.audiences]]
  id = "gold"
  filter = { all = [ { field = "plan", in = ["\${VF_PLAN}", "x"] } ] }
  [[projects.rules]]
  id = "welcome"
  template = { subject = "Hi from \${VF_BRAND}", text = "Total: \${{ total }} — was $5, now \${ not_a_ref } or $VF_BRAND" }
  [[projects.webhooks]]
  url = "https://hooks.example.com/\${VF_HOOK}"
  secret = "\${VF_SECRET}"
  events = ["\${VF_EVENT}"]
`;
const ENV = {
  VF_LISTEN: "127.0.0.1:9999", VF_DB: "file:/tmp/x.db", VF_PW: "pw", VF_ID: "acme", VF_TZ: "Asia/Tokyo", VF_START: "08:30",
  VF_DAY: "sat", VF_FROM: "jane@acme.io", VF_PLAN: "pro", VF_BRAND: "Acme", VF_HOOK: "h1", VF_SECRET: "0123456789abcdef!", VF_EVENT: "email.opened",
};

test("${NAME} is replaced in every string: sections, inline tables, arrays, filters, templates, webhooks", () => {
  const config = parseConfigText(TOML, "env.toml", ENV);
  const p = config.projects[0]!;
  expect([config.server.listen, config.database.url, config.smtp?.url]).toEqual(["127.0.0.1:9999", "file:/tmp/x.db", "smtps://mailer:pw@smtp.example.com:465"]);
  expect([p.id, p.timezone, p.send_window.start, p.send_window.days, p.sender.from]).toEqual(["acme", "Asia/Tokyo", 8 * 60 + 30, ["sat", "tue"], "Jane <jane@acme.io>"]);
  expect(JSON.stringify(p.audiences[0]!.filter)).toContain('["pro","x"]');
  expect(p.webhooks[0]).toEqual({ url: "https://hooks.example.com/h1", secret: ENV.VF_SECRET, events: ["email.opened"] });
  const welcome = resolveRules(p).find((r) => r.id === "welcome")!;
  expect(welcome.template?.subject).toBe("Hi from Acme");
  // Only ${NAME} is a reference: Liquid's ${{ … }}, a "$5", "${ x }" and a bare $NAME stay as written.
  expect(welcome.template?.text).toBe("Total: ${{ total }} — was $5, now ${ not_a_ref } or $VF_BRAND");
});

test("each unset variable is one problem at its own key path, all at once", () => {
  let error: unknown;
  try {
    parseConfigText(TOML, "env.toml", {});
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  const problems = (error as ConfigError).problems;
  expect(problems.map((p) => p.path)).toEqual([
    "server.listen", "database.url", "smtp.url", "projects[0].id", "projects[0].timezone", "projects[0].send_window.start",
    "projects[0].send_window.days[0]", "projects[0].sender.from", "projects[0].audiences[0].filter.all[0].in[0]",
    "projects[0].rules[0].template.subject", "projects[0].webhooks[0].url", "projects[0].webhooks[0].secret", "projects[0].webhooks[0].events[0]",
  ]);
  expect(problems[2]).toEqual({ path: "smtp.url", expected: "environment variable VF_PW to be set", found: "it unset" });
});
