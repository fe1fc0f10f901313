import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { parseConfigText } from "../../src/config/load";
import { createKey } from "../../src/keys/service";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { startTestServer, type TestServer } from "../support/harness";
import { event, post } from "./support";

/** SPEC §3: rate limits are per project and endpoint, and the backfill limit counts the project's own queue. */
let server: TestServer;
let beta: { url: string; apiKey: string };
beforeAll(async () => {
  server = await startTestServer(
    `[ingest]\nbackfill_queue_limit = 5\nrate_limits = { users = { per_second = 1, burst = 2 } }\n[[projects]]\nid = "acme"\n[[projects]]\nid = "beta"\n`,
    { background: false },
  );
  // The harness's key is acme's (the first project); beta gets its own.
  beta = { url: server.url, apiKey: (await createKey(server.ctx.database, "beta", "beta")).key };
});
afterAll(() => server.close());
afterEach(() => setClock(systemClock));

test("the defaults are generous: 1,000 requests/s with bursts of 2,000 per project and endpoint, backfill held at 50,000 queued", () => {
  const { ingest } = parseConfigText("");
  expect([ingest.rate_limit, ingest.rate_limits, ingest.backfill_queue_limit]).toEqual([{ per_second: 1000, burst: 2000 }, {}, 50_000]);
});

test("one project's empty bucket leaves another project's alone", async () => {
  setClock(manualClock(Date.parse("2026-04-01T00:00:00Z"))); // no refill while the test runs
  const user = { external_user_id: "u" };
  const statuses = async (who: { url: string; apiKey: string }, n: number) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await post(who, "/api/v1/users", user)).status);
    return out;
  };
  expect(await statuses(server, 3)).toEqual([202, 202, 429]);
  expect(await statuses(beta, 3)).toEqual([202, 202, 429]);
});

test("backfill_queue_full counts only the project's own queued items", async () => {
  await server.ctx.database.execute("DELETE FROM ingest_queue");
  const acmeBulk = await post(server, "/api/v1/events/bulk", { events: [event(1), event(2), event(3), event(4), event(5)] });
  expect(acmeBulk.json.data.accepted).toBe(5);
  expect((await post(server, "/api/v1/events/bulk", { events: [event(6)] })).json.errors?.[0]?.code).toBe("backfill_queue_full");
  // beta has nothing queued: its bulk goes through although the queue as a whole holds 5.
  const betaBulk = await post(beta, "/api/v1/events/bulk", { events: [event(7)] });
  expect([betaBulk.status, betaBulk.json.data?.accepted]).toEqual([200, 1]);
});
