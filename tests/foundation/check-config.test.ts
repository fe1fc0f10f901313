import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/config/load";
import { emptyDir, runCli } from "./support";

// Real processes on a shared machine: the same allowance as `npm test` (--timeout 60000) when run directly.
setDefaultTimeout(60_000);

/**
 * Broken configs: exit 2, one precise line per problem, all at once. Each kind of problem is checked through
 * `loadConfig` (the very text check-config prints); the real CLI runs as a subprocess on a file holding many
 * problems at once, on invalid TOML, and on a missing file.
 */
const tmp = emptyDir();
afterAll(() => tmp.cleanup());

let n = 0;
async function check(toml: string, env: Record<string, string> = {}) {
  const file = join(tmp.dir, `c${n++}.toml`);
  writeFileSync(file, toml);
  const result = await runCli(["check-config", "--config", file], { cwd: tmp.dir, env });
  return { ...result, file, lines: result.stderr.trim().split("\n").slice(1).map((l) => l.trim()) };
}

describe("check-config on broken configs", () => {
  const cases: [string, string, string][] = [
    ["wrong type", "[server]\nlisten = 8080\n", "server.listen: expected string, found number 8080"],
    ["unknown key", '[server]\nlisen = "127.0.0.1:80"\n', 'server.lisen: expected a known key of server, found unknown key "lisen"'],
    ["unknown section", "[servre]\n", 'servre: expected a known top-level key, found unknown key "servre"'],
    ["bad duration", '[[projects]]\nid = "acme"\nreview_window = "2 hours"\n', 'projects[0].review_window: expected a duration like "90s", "15m", "2h", "3d" or "1w", found string "2 hours"'],
    ["bad time zone", '[[projects]]\nid = "acme"\ntimezone = "Mars/Olympus"\n', 'projects[0].timezone: expected an IANA time zone like "Europe/Berlin", found string "Mars/Olympus"'],
    ["bad cron", '[evaluator]\nschedule = "every hour"\n', 'evaluator.schedule: expected a cron expression like "0 * * * *" (minute hour day month weekday), found string "every hour"'],
    ["bad enum", '[database]\nsynchronous = "sometimes"\n', 'database.synchronous: expected one of "full", "normal", found string "sometimes"'],
    ["bad listen", '[server]\nlisten = "localhost"\n', 'server.listen: expected an address "host:port", e.g. "127.0.0.1:8080", found string "localhost"'],
    ["bad database url", '[database]\nurl = "./data/x.db"\n', 'database.url: expected a "file:" path or a libsql://, http(s):// URL, found string "./data/x.db"'],
    ["sender not an address", '[[projects]]\nid = "acme"\nsender = { from = "not an address at all" }\n', 'projects[0].sender.from: expected an address like "jane@acme.io" or "Jane at Acme <jane@acme.io>", found string "not an address at all"'],
    ["public_url not http(s)", '[server]\npublic_url = "javascript:alert(1)"\n', 'server.public_url: expected an absolute http(s) URL like "https://vf.example.com", found string "javascript:alert(1)"'],
    ["database url without a path", '[database]\nurl = "file:"\n', 'database.url: expected a "file:" path or a libsql://, http(s):// URL, found string "file:"'],
    ["smtp url that does not parse (a raw # in the password)", '[smtp]\nurl = "smtp://u:pa#ss@mail.acme.io:587"\n', 'smtp.url: expected an SMTP URL like "smtps://user:pass@host:465" with a host (percent-encode "#", "/", "?" in the user or password: %23, %2F, %3F), found string "smtp://u:***@mail.acme.io:587"'],
    ["a password after an address as user name, with a raw #, is not printed", '[smtp]\nurl = "smtp://me@acme.io:pa#ss@mail.acme.io:587"\n', 'smtp.url: expected an SMTP URL like "smtps://user:pass@host:465" with a host (percent-encode "#", "/", "?" in the user or password: %23, %2F, %3F), found string "smtp://me@acme.io:***@mail.acme.io:587"'],
    ["a password with a space is not printed", '[smtp]\nurl = "smtps://mailer:pass word#1@smtp.example.com:465"\n', 'smtp.url: expected an SMTP URL like "smtps://user:pass@host:465" with a host (percent-encode "#", "/", "?" in the user or password: %23, %2F, %3F), found string "smtps://mailer:***@smtp.example.com:465"'],
    ["a bad URL's password is not printed", '[smtp]\nurl = "smtp://mailer:s3cret@mail.acme.io:port"\n', 'smtp.url: expected an SMTP URL like "smtps://user:pass@host:465" with a host (percent-encode "#", "/", "?" in the user or password: %23, %2F, %3F), found string "smtp://mailer:***@mail.acme.io:port"'],
    ["smtp url without a host", '[[projects]]\nid = "acme"\n[projects.smtp]\nurl = "smtp://"\n', 'projects[0].smtp.url: expected an SMTP URL like "smtps://user:pass@host:465" with a host (percent-encode "#", "/", "?" in the user or password: %23, %2F, %3F), found string "smtp://"'],
    ["a positive number given 0", "[ingest]\nbackfill_queue_limit = 0\n", "ingest.backfill_queue_limit: expected more than 0, found number 0"],
    ["a whole number given a fraction", "[normaliser]\nbatch_size = 1.5\n", "normaliser.batch_size: expected a whole number, found number 1.5"],
    ["bad clock time", '[[projects]]\nid = "acme"\nsend_window = { start = "9:00" }\n', 'projects[0].send_window.start: expected a time "HH:MM" between 00:00 and 24:00, found string "9:00"'],
    ["24:00 as a start", '[[projects]]\nid = "acme"\nsend_window = { start = "24:00", end = "24:00" }\n', 'projects[0].send_window.start: expected a time "HH:MM" from 00:00 to 23:59 ("24:00" is only an end), found string "24:00"'],
    ["SMTP URL without a host", '[smtp]\nurl = "smtp://"\n', 'smtp.url: expected an SMTP URL like "smtps://user:pass@host:465" with a host (percent-encode "#", "/", "?" in the user or password: %23, %2F, %3F), found string "smtp://"'],
    ["SMTP URL with a bad port", '[smtp]\nurl = "smtps://u:p@smtp.example.com:4650000"\n', 'smtp.url: expected an SMTP URL like "smtps://user:pass@host:465" with a host (percent-encode "#", "/", "?" in the user or password: %23, %2F, %3F), found string "smtps://u:***@smtp.example.com:4650000"'],
    ["SMTP URL that is not one", '[smtp]\nurl = "mail.example.com:25"\n', 'smtp.url: expected an SMTP URL like "smtps://user:pass@host:465" with a host (percent-encode "#", "/", "?" in the user or password: %23, %2F, %3F), found string "mail.example.com:25"'],
    ["a send window on no day", '[[projects]]\nid = "acme"\nsend_window = { days = [] }\n', "projects[0].send_window.days: expected at least 1 item, found an array []"],
    ["window ends before it starts", '[[projects]]\nid = "acme"\nsend_window = { start = "18:00", end = "09:00" }\n', "projects[0].send_window.end: expected an end after the start"],
    ["bad rule kind", '[[projects]]\nid = "acme"\n[[projects.rules]]\nid = "x"\nkind = "telepathy"\n', 'projects[0].rules[0].kind: expected a rule kind: one of welcome,'],
    ["webhook URL not http(s)", '[[projects]]\nid = "acme"\n[[projects.webhooks]]\nurl = "ftp://example.com/x"\nsecret = "0123456789abcdef"\n', 'projects[0].webhooks[0].url: expected an absolute http(s) URL like "https://example.com/hook", found string "ftp://example.com/x"'],
    ["duplicate project id", '[[projects]]\nid = "acme"\n[[projects]]\nid = "acme"\n', 'projects[1].id: expected a project id used once, found "acme"'],
    ["missing env var", '[smtp]\nurl = "smtps://u:${VF_TEST_UNSET_PW}@h:465"\n', "smtp.url: expected environment variable VF_TEST_UNSET_PW to be set, found it unset"],
    ["invalid TOML", 'a = \n', "line 1, column 5: expected valid TOML, found Invalid TOML document"],
    ["missing required key", '[[projects]]\nname = "Acme"\n', "projects[0].id: expected an id of letters, digits, _ or - (a required key), found nothing"],
    ["unknown key in a rule", '[[projects]]\nid = "acme"\n[[projects.rules]]\nid = "w"\nkind = "welcome"\ndelai = "1h"\n', 'projects[0].rules[0].delai: expected a known key of projects[0].rules[0], found unknown key "delai"'],
    ["port out of range", '[server]\nlisten = "127.0.0.1:99999"\n', 'server.listen: expected an address "host:port" with a port from 0 to 65535, found string "127.0.0.1:99999"'],
    ["misspelt rate-limit endpoint", '[ingest]\nrate_limits = { event = { per_second = 1, burst = 2 } }\n', 'ingest.rate_limits.event: expected a known key of ingest.rate_limits, found unknown key "event"'],
    ["a poll interval no timer can wait", '[normaliser]\nidle_interval = "30d"\n', 'normaliser.idle_interval: expected a duration like "90s", "15m", "2h", "3d" or "1w", at most 24d (a timer waits for it), found string "30d"'],
    ["an absurd duration", '[[projects]]\nid = "acme"\nchurn_grace = "99999999999999999999999w"\n', 'projects[0].churn_grace: expected a duration like "90s", "15m", "2h", "3d" or "1w", at most 520w (ten years), found string "99999999999999999999999w"'],
    ["a UTC offset is not an IANA zone", '[[projects]]\nid = "acme"\ntimezone = "+05:30"\n', 'projects[0].timezone: expected an IANA time zone like "Europe/Berlin", found string "+05:30"'],
    ["a template that includes a file", '[[projects]]\nid = "acme"\n[[projects.rules]]\nid = "w"\nkind = "welcome"\ntemplate = { subject = "Hi", text = "{% include \'vibefollow.toml\' %}" }\n', 'projects[0].rules[0].template.text: expected a valid Liquid template (rule "w"), found {% include %} is not available: a template cannot read other files'],
    ["a time of day where an instant is expected", '[[projects]]\nid = "acme"\n[[projects.audiences]]\nid = "a"\nfilter = { field = "signup_date", before = 10:00:00 }\n', 'projects[0].audiences[0].filter.before: expected an ISO 8601 time like "2026-01-31" or "2026-01-31T09:00:00Z"'],
    ["bad audience filter", '[[projects]]\nid = "acme"\n[[projects.audiences]]\nid = "a"\nfilter = { field = "plan", gt = "x" }\n', 'projects[0].audiences[0].filter.gt: expected an operator that fits text field "plan"'],
  ];
  // The subprocesses run side by side; each test then checks its own result.
  cases.forEach(([name, toml, line]) => {
    test(name, () => {
      const file = join(tmp.dir, `c${n++}.toml`);
      writeFileSync(file, toml);
      let error: unknown;
      try {
        loadConfig(file, {});
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const [head, ...lines] = (error as ConfigError).message.split("\n");
      expect(head).toBe(`${file}: 1 problem`);
      expect(lines).toHaveLength(1);
      expect(lines[0]!.trim()).toStartWith(line);
    });
  });

  test("a rule naming a missing audience is reported beside the config's other problems", () => {
    const file = join(tmp.dir, `c${n++}.toml`);
    writeFileSync(file, '[[projects]]\nid = "acme"\n[[projects.audiences]]\nid = "a"\nfilter = { field = "plann", eq = "x" }\n[[projects.rules]]\nid = "welcome"\naudience = "whales"\n');
    let error: unknown;
    try {
      loadConfig(file, {});
    } catch (e) {
      error = e;
    }
    const [head, ...lines] = (error as ConfigError).message.split("\n");
    expect(head).toBe(`${file}: 2 problems`);
    expect(lines.map((l) => l.trim().split(":")[0])).toEqual(["projects[0].audiences[0].filter.field", "projects[0].rules[0].audience"]);
    expect(lines[1]).toContain('found string "whales"');
  });

  test("the CLI on invalid TOML: exit 2, the line and column, nothing on stdout", async () => {
    const r = await check('[server]\nlisten = "127.0.0.1:8080\n');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toStartWith(`${r.file}: 1 problem\n`);
    expect(r.lines[0]).toMatch(/^line 2, column \d+: expected valid TOML, found /);
  });

  test("every problem is reported at once, each with its key path", async () => {
    const r = await check(`[server]
listen = 8080
lisen = "x"

[database]
url = "./data/x.db"
synchronous = "sometimes"

[evaluator]
schedule = "every hour"

[smtp]
url = "smtps://u:\${VF_TEST_UNSET_PW}@h:465"

[[projects]]
id = "acme"
timezone = "Mars/Olympus"
review_window = "2 hours"
send_window = { start = "9:00" }

  [[projects.audiences]]
  id = "a"
  filter = { field = "plan", gt = "x" }

  [[projects.rules]]
  id = "welcome"
  kind = "welcome"

  [[projects.rules]]
  id = "trial"
  kind = "telepathy"

  [[projects.rules]]
  id = "w2"
  kind = "welcome"
  delay = "soon"

[[projects]]
id = "acme"
name = "\${VF_TEST_UNSET_NAME}"
`);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toStartWith(`${r.file}: 14 problems\n`);
    const paths = r.lines.map((l) => l.slice(0, l.indexOf(":")));
    expect(paths.sort()).toEqual([
      "database.synchronous",
      "database.url",
      "evaluator.schedule",
      "projects[0].audiences[0].filter.gt",
      "projects[0].review_window",
      "projects[0].rules[1].kind",
      "projects[0].rules[2].delay",
      "projects[0].send_window.start",
      "projects[0].timezone",
      "projects[1].id",
      "projects[1].name",
      "server.lisen",
      "server.listen",
      "smtp.url",
    ]);
    // Each line is the same precise text as for that problem alone.
    expect(r.lines).toContain('projects[0].rules[2].delay: expected a duration like "90s", "15m", "2h", "3d" or "1w", found string "soon"');
    expect(r.lines).toContain("smtp.url: expected environment variable VF_TEST_UNSET_PW to be set, found it unset");
    // A duplicate id is found beside the other problems; an unset variable is one problem, not two.
    expect(r.lines).toContain('projects[1].id: expected a project id used once, found "acme"');
    expect(r.lines).toContain("projects[1].name: expected environment variable VF_TEST_UNSET_NAME to be set, found it unset");
  });

  test("a missing file is a problem, not a silent fallback to defaults", async () => {
    const r = await runCli(["check-config", "--config", join(tmp.dir, "nope.toml")], { cwd: tmp.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("expected a readable TOML file, found no file at that path");
  });

  test("serve refuses to start on a bad config with the same message and exit 2", async () => {
    const r = await check('[server]\nlisten = 8080\n');
    const served = await runCli(["serve", "--config", r.file], { cwd: tmp.dir });
    expect(served.code).toBe(2);
    expect(served.stderr).toContain("server.listen: expected string, found number 8080");
  });
});

describe("check-config on good configs", () => {
  test("a set env var is interpolated; the summary lists the projects; exit 0", async () => {
    const r = await check('[smtp]\nurl = "smtps://u:${VF_TEST_PW}@h:465"\n[[projects]]\nid = "acme"\n[[projects]]\nid = "beta"\n', { VF_TEST_PW: "secret" });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("OK — 2 project(s): acme, beta");
  });

  test("a short webhook secret is accepted with a warning naming its key; an empty one is refused", async () => {
    const hook = (secret: string) => `[[projects]]\nid = "acme"\n[[projects.webhooks]]\nurl = "https://hooks.example.com/vf"\nsecret = "${secret}"\n`;
    const short = await check(hook("test-secret"));
    expect(short.code).toBe(0);
    expect(short.stdout).toContain("OK — 1 project(s): acme");
    expect(short.stdout).toContain("warning: projects[0].webhooks[0].secret: shorter than 16 characters");
    const long = await check(hook("0123456789abcdef"));
    expect(long.code).toBe(0);
    expect(long.stdout).not.toContain("warning");
    const empty = await check(hook(""));
    expect(empty.code).toBe(2);
    expect(empty.lines).toEqual(['projects[0].webhooks[0].secret: expected a non-empty secret, found string ""']);
  });

  test("SMTP without server.public_url is a warning: the links in emails would point at the listen address", async () => {
    const smtp = '[smtp]\nurl = "smtp://127.0.0.1:2525"\nfrom = "Acme <hi@acme.io>"\n[[projects]]\nid = "acme"\n';
    const bare = await check(smtp);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toContain("warning: server.public_url: not set, so links in emails point at http://127.0.0.1:8080;");
    const set = await check(`[server]\npublic_url = "https://vf.acme.io"\n${smtp}`);
    expect(set.stdout).not.toContain("warning");
    expect((await check('[[projects]]\nid = "acme"\n')).stdout).not.toContain("warning"); // the outbox: no mail leaves
  });

  test("a bad value from an environment override names its variable, not only the file", async () => {
    const r = await check('[server]\nlisten = "127.0.0.1:8080"\n', { VIBEFOLLOW_LISTEN: "bogus" });
    expect(r.code).toBe(2);
    expect(r.lines).toEqual(['server.listen: expected an address "host:port", e.g. "127.0.0.1:8080", found string "bogus" (from VIBEFOLLOW_LISTEN)']);
  });

  test("no config anywhere: embedded defaults, project default", async () => {
    const r = await runCli(["check-config"], { cwd: tmp.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("embedded defaults: OK — 1 project(s): default");
  });

  test("./vibefollow.toml is found, VIBEFOLLOW_CONFIG beats it, --config beats both", async () => {
    const dir = emptyDir();
    try {
      writeFileSync(join(dir.dir, "vibefollow.toml"), '[[projects]]\nid = "cwd"\n');
      writeFileSync(join(dir.dir, "env.toml"), '[[projects]]\nid = "from-env"\n');
      writeFileSync(join(dir.dir, "flag.toml"), '[[projects]]\nid = "from-flag"\n');
      expect((await runCli(["check-config"], { cwd: dir.dir })).stdout).toContain(": cwd");
      expect((await runCli(["check-config"], { cwd: dir.dir, env: { VIBEFOLLOW_CONFIG: "env.toml" } })).stdout).toContain(": from-env");
      expect((await runCli(["check-config", "--config", "flag.toml"], { cwd: dir.dir, env: { VIBEFOLLOW_CONFIG: "env.toml" } })).stdout).toContain(": from-flag");
    } finally {
      dir.cleanup();
    }
  });
});
