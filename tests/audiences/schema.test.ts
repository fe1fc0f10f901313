import { describe, expect, test } from "bun:test";
import { resolveAudiences } from "../../src/audiences";
import { ConfigError, parseConfigText } from "../../src/config/load";

/** Parses a config whose first project has these audiences (TOML lines); returns the problems, if any. */
function problemsOf(toml: string): { path: string; expected: string; found: string }[] {
  try {
    parseConfigText(`[[projects]]\nid = "acme"\n${toml}`);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

function audience(filter: string, id = "a"): string {
  return `[[projects.audiences]]\nid = "${id}"\nfilter = ${filter}\n`;
}

describe("audience filter validation at config load", () => {
  test("accepts the SPEC's example and every form of the language", () => {
    const problems = problemsOf(
      audience(`{ performed = "feature_used", at_least = 10, within = "7d" }`, "power_users") +
        audience(`{ all = [ { field = "plan", in = ["pro", "team"] }, { not = { field = "email", ends_with = "@acme.io" } },
          { any = [ { field = "traits.companySize", gte = 50 }, { field = "mrr", gt = 10000, lte = 99999 } ] },
          { field = "signupDate", after = 2026-01-01T00:00:00Z }, { field = "last_seen_at", before = "2026-02-01" },
          { not_performed = "onboarding_step", where = [ { field = "step", eq = "invite" }, { field = "completed", eq = true } ], within = "2w" },
          { performed = "feature_used", where = { any = [ { field = "feature", starts_with = "export" }, { field = "featureName", exists = true } ] }, at_most = 3 } ] }`),
    );
    expect(problems).toEqual([]);
  });

  test("within = \"0s\" is refused as an empty window, not as a malformed duration", () => {
    const [p, ...rest] = problemsOf(audience(`{ performed = "feature_used", within = "0s" }`));
    expect(rest).toEqual([]);
    expect(p!.path).toBe("projects[0].audiences[0].filter.within");
    expect(p!.expected).toContain("longer than 0");
    expect(p!.found).toBe('string "0s"');
  });

  test("unknown field, with the path and the list of fields", () => {
    const [p, ...rest] = problemsOf(audience(`{ field = "plann", eq = "pro" }`) + audience(`{ all = [ { field = "plan", eq = "x" }, { field = "plan", eq = "y" }, { field = "planet", eq = "z" } ] }`, "b"));
    expect(p!.path).toBe("projects[0].audiences[0].filter.field");
    expect(p!.expected).toContain("a user field: email, name, plan");
    expect(p!.found).toBe('string "plann"');
    expect(rest.map((r) => r.path)).toEqual(["projects[0].audiences[1].filter.all[2].field"]);
  });

  test("operators that do not fit the field's type", () => {
    const problems = problemsOf(
      audience(`{ all = [ { field = "email", gt = 3 }, { field = "plan", older_than = "3d" }, { field = "mrr", contains = "1" }, { field = "last_seen_at", eq = 5 } ] }`),
    );
    expect(problems.map((p) => p.path)).toEqual([
      "projects[0].audiences[0].filter.all[0].gt",
      "projects[0].audiences[0].filter.all[1].older_than",
      "projects[0].audiences[0].filter.all[2].contains",
      "projects[0].audiences[0].filter.all[3].eq",
    ]);
    expect(problems[0]!.expected).toContain('text field "email"');
    expect(problems[0]!.expected).toContain('"gt" does not');
    expect(problems[1]!.expected).toContain('text field "plan"');
    expect(problems[3]!.expected).toContain("before, after, older_than, newer_than, exists");
  });

  test("bad values: durations, times, counts, stage names, lists", () => {
    const problems = problemsOf(
      audience(`{ all = [ { field = "last_seen_at", older_than = "3 days" }, { performed = "x", within = "7x" }, { field = "signup_date", after = "yesterday" },
        { performed = "x", at_least = -1 }, { performed = "x", at_least = 5, at_most = 2 }, { field = "stage", eq = "paying" },
        { field = "plan", in = [] }, { field = "plan", eq = 3 }, { field = "email", exists = "yes" }, { field = "mrr", gt = "100" } ] }`),
    );
    const byPath = Object.fromEntries(problems.map((p) => [p.path.replace("projects[0].audiences[0].filter.", ""), p.expected]));
    expect(byPath["all[0].older_than"]).toContain("a duration");
    expect(byPath["all[1].within"]).toContain("a duration");
    expect(byPath["all[2].after"]).toContain("ISO 8601");
    expect(byPath["all[3].at_least"]).toContain("whole number");
    expect(byPath["all[4].at_most"]).toContain("not below at_least (5)");
    expect(byPath["all[5].eq"]).toContain('"trialing"');
    expect(byPath["all[6].in"]).toContain("non-empty array");
    expect(byPath["all[7].eq"]).toBe("a string");
    expect(byPath["all[8].exists"]).toBe("true or false");
    expect(byPath["all[9].gt"]).toBe("a number");
    expect(problems).toHaveLength(10);
  });

  test("structure: unknown keys, empty groups, two kinds in one table, events inside where, no operator", () => {
    const problems = problemsOf(
      audience(`{ all = [ { feild = "plan" }, { any = [] }, { field = "plan", eq = "a", performed = "x" }, { performed = "x", where = { performed = "y" } },
        { field = "plan" }, { performed = "x", count = 3 }, { not = "plan" }, { all = [ { field = "plan", eq = "a" } ], extra = 1 } ] }`),
    );
    expect(problems.map((p) => p.path.replace("projects[0].audiences[0].filter.", ""))).toEqual([
      "all[0].feild", // read as the shorthand { <field> = … }: no such field
      "all[1].any",
      "all[2].performed",
      "all[3].where.performed",
      "all[4]",
      "all[5].count",
      "all[6].not",
      "all[7].extra",
    ]);
    expect(problems[0]!.expected).toContain("a user field: email, name, plan");
    expect(problems[0]!.expected).toContain("or a condition { field = …, <operator> = … }, a group all/any/not, or performed/not_performed");
  });

  test("camelCase user fields, trait keys and property keys mean their snake_case form", () => {
    const config = parseConfigText(`[[projects]]\nid = "acme"\n${audience(`{ all = [ { field = "lastSeenAt", newer_than = "1d" }, { field = "traits.companySize", gt = 5 }, { performed = "feature_used", where = { field = "featureName", eq = "x" } } ] }`)}`);
    const filter = config.projects[0]!.audiences[0]!.filter;
    expect(filter.type).toBe("all");
    if (filter.type !== "all") return;
    expect(filter.filters.map((f) => (f.type === "field" ? f.field : f.type === "event" && f.where?.type === "field" ? f.where.field : ""))).toEqual([
      "last_seen_at",
      "traits.company_size",
      "feature_name",
    ]);
  });

  test("a rule's audience must exist in its project (defaults count)", () => {
    const rule = (audienceId: string) => `[[projects.rules]]\nid = "r_${audienceId}"\nkind = "welcome"\naudience = "${audienceId}"\n`;
    expect(problemsOf(audience(`{ field = "plan", eq = "pro" }`, "pros") + rule("pros") + rule("trialing"))).toEqual([]);
    const problems = problemsOf(rule("whales"));
    expect(problems).toEqual([
      { path: "projects[0].rules[0].audience", expected: expect.stringContaining('an audience of project "acme" (signups, trialing'), found: 'string "whales"' },
    ]);
  });

  test("defaults for every project; a custom audience with a default's id overrides it", () => {
    const config = parseConfigText(`[[projects]]\nid = "acme"\n${audience(`{ field = "plan", eq = "pro" }`, "paying")}${audience(`{ field = "plan", eq = "x" }`, "extra")}[[projects]]\nid = "other"\n`);
    const acme = resolveAudiences(config.projects[0]!);
    expect(acme.map((a) => a.id)).toEqual(["signups", "trialing", "paying", "past_due", "cancelled", "churned", "inactive_14d", "extra"]);
    expect(acme.find((a) => a.id === "paying")!.isDefault).toBe(false);
    expect(resolveAudiences(config.projects[1]!).map((a) => a.id)).toEqual(["signups", "trialing", "paying", "past_due", "cancelled", "churned", "inactive_14d"]);
    // The embedded no-config default project has them too.
    expect(resolveAudiences(parseConfigText("").projects[0]!)).toHaveLength(7);
  });
});
