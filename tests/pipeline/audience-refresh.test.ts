import { afterAll, beforeAll, expect, test } from "bun:test";
import { recomputeAudiences, resolveAudiences } from "../../src/audiences";
import { manualClock, setClock } from "../../src/lib/clock";
import type { TestServer } from "../support/harness";
import { drain, enqueue, identify, rows, startPipelineServer, track, userRow } from "./support";
import { DAY } from "../../src/lib/durations";

// The normaliser refreshes an audience only for the users whose batch changed what its filter reads
// (src/audiences/inputs.ts); what time alone changes is the hourly recompute's.

const AUDIENCES = `
[[projects.audiences]]
id = "pros"
filter = { field = "plan", eq = "pro" }
[[projects.audiences]]
id = "veterans"
filter = { field = "signup_date", older_than = "30d" }
[[projects.audiences]]
id = "big"
filter = { field = "traits.company_size", gte = 100 }
[[projects.audiences]]
id = "csv_exporters"
filter = { performed = "report_exported", where = { field = "format", eq = "csv" } }
[[projects.audiences]]
id = "quiet_pros"
filter = { all = [{ field = "plan", in = ["pro", "team"] }, { not_performed = "page_viewed", at_least = 3 }] }
`;

let server: TestServer;
beforeAll(async () => {
  server = await startPipelineServer(AUDIENCES);
});
afterAll(() => server.close());

const T0 = Date.parse("2026-03-01T00:00:00Z");

async function audiencesOf(ext: string): Promise<string[]> {
  const u = (await userRow(server.ctx.database, ext))!;
  const r = await rows(server.ctx.database, "SELECT audience_id FROM audience_members WHERE project_id = 'acme' AND user_id = ? ORDER BY 1", [u.id]);
  return r.map((m) => String(m.audience_id));
}

test("an event or identify re-evaluates the audiences that read what it changed; time alone waits for the recompute", async () => {
  const clock = manualClock(T0);
  setClock(clock);
  await enqueue(server.ctx.database, [identify("vet", { traits: { plan: "free", signupDate: new Date(T0).toISOString(), companySize: 10 } })]);
  await drain(server);
  expect(await audiencesOf("vet")).toEqual(["signups"]);

  // 31 days later the signup is older than 30 days, but an unrelated event does not re-evaluate `veterans`.
  clock.advance(31 * DAY);
  await enqueue(server.ctx.database, [track("vet", "page_viewed")]);
  await drain(server);
  expect(await audiencesOf("vet")).toEqual(["signups"]);

  // A plan change re-evaluates what reads the plan; a trait change what reads traits; a csv export the export audience.
  await enqueue(server.ctx.database, [
    identify("vet", { traits: { plan: "pro", companySize: 250 } }),
    track("vet", "report_exported", { properties: { format: "csv" } }),
  ]);
  await drain(server);
  expect(await audiencesOf("vet")).toEqual(["big", "csv_exporters", "pros", "quiet_pros", "signups"]);

  // Two more page views: `quiet_pros` counts them (its not_performed reads page_viewed events).
  await enqueue(server.ctx.database, [track("vet", "page_viewed"), track("vet", "page_viewed")]);
  await drain(server);
  expect(await audiencesOf("vet")).toEqual(["big", "csv_exporters", "pros", "signups"]);

  // The recompute brings in what time changed.
  const project = server.ctx.config.projects[0]!;
  const result = await recomputeAudiences(server.ctx.database, project, clock.now());
  expect(result).toMatchObject({ entered: 1, exited: 0 });
  expect(await audiencesOf("vet")).toEqual(["big", "csv_exporters", "pros", "signups", "veterans"]);
});

test("with the clock still, membership after any mix of batches is exactly what a full recompute finds", async () => {
  const clock = manualClock(T0 + 100 * DAY);
  setClock(clock);
  let seed = 11;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const names = ["page_viewed", "report_exported", "trial_started", "subscription_changed", "payment_failed", "user_signed_up"];
  const project = server.ctx.config.projects[0]!;
  expect(resolveAudiences(project).length).toBe(12);
  await recomputeAudiences(server.ctx.database, project, clock.now()); // what the clock's jump changed for earlier users
  for (let round = 0; round < 12; round++) {
    const items = Array.from({ length: 60 }, () => {
      const user = `r${Math.floor(random() * 25)}`;
      if (random() < 0.3) {
        return identify(user, { traits: { plan: pick(["free", "pro", "team", null]), companySize: Math.floor(random() * 200), signupDate: new Date(T0 - Math.floor(random() * 60) * DAY).toISOString() } });
      }
      const name = pick(names);
      const properties: Record<string, unknown> =
        name === "trial_started" ? { trialDays: 14 } : name === "subscription_changed" ? { to: pick(["pro", "team"]), mrr: pick([0, 4900]) } : name === "user_signed_up" ? { plan: "free", source: "x" } : { format: pick(["csv", "pdf"]) };
      return track(user, name, { properties, timestamp: new Date(clock.now() - Math.floor(random() * 40) * DAY).toISOString() });
    });
    await enqueue(server.ctx.database, items);
    await drain(server);
    const check = await recomputeAudiences(server.ctx.database, project, clock.now());
    expect({ round, entered: check.entered, exited: check.exited }).toEqual({ round, entered: 0, exited: 0 });
  }
});
