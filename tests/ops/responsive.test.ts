import { expect, test } from "bun:test";
import { createDrafts, dispatchDue } from "../../src/drafts";
import { deliverDue, Messengers } from "../../src/mail";
import { runEvaluator } from "../../src/rules";
import { ONLY_WELCOME } from "../drafts/support";
import { startTestServer } from "../support/harness";
import { afterEachTest } from "../support/after-each";

/**
 * libSQL's local calls run synchronously under their promises, so long database work on the main thread used to
 * hold every HTTP request — `/healthz` included — until it ended (2–3 s for an evaluator run of 5,000–10,000
 * matches, seconds for a big send backlog). Each step below runs for far longer than the event loop may go
 * without a turn (src/lib/breathe.ts); `/healthz`, asked over real HTTP just after it starts, must answer
 * before it ends.
 */
const USERS = 3_000;
const SENT = 500;
const stops: (() => Promise<void>)[] = [];
afterEachTest(async () => {
  while (stops.length) await stops.pop()!();
});

async function answeredDuring(work: () => Promise<unknown>, url: string): Promise<{ healthAt: number; doneAt: number }> {
  const running = work().then(() => performance.now());
  const health = fetch(`${url}/healthz`).then(async (res) => {
    expect(res.status).toBe(200);
    return performance.now();
  });
  const [doneAt, healthAt] = await Promise.all([running, health]);
  return { healthAt, doneAt };
}

test("/healthz answers during a big evaluator run, its drafts' dispatch and their delivery", async () => {
  const server = await startTestServer(
    `[[projects]]\nid = "acme"\ntimezone = "UTC"\nautopilot = true\nreview_window = "0s"\nsend_window = { start = "00:00", end = "24:00" }\nfrequency_cap = { per_day = 0, per_week = 0 }\n${ONLY_WELCOME}`,
    { background: false },
  );
  stops.push(() => server.close());
  const { database, config } = server.ctx;
  const day = 86_400_000;
  await database.execute({
    sql: `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
          INSERT INTO tracked_users (project_id, external_user_id, email, name, traits, stage, created_at, updated_at)
          SELECT 'acme', 'u' || i, 'u' || i || '@example.com', 'User ' || i, '{}', 'signed_up', 0, 0 FROM s`,
    args: [USERS],
  });
  await database.execute({
    sql: `INSERT INTO events (project_id, user_id, name, occurred_at, received_at, payload, properties)
          SELECT 'acme', id, 'user_signed_up', ?, ?, '{}', '{"plan":"free"}' FROM tracked_users`,
    args: [Date.now() - day, Date.now() - day],
  });

  const evaluate = () => runEvaluator(server.ctx, { trigger: "manual", onMatches: async (tx, m) => void (await createDrafts(tx, m, config)) });
  const run = await answeredDuring(evaluate, server.url);
  expect(run.healthAt).toBeLessThan(run.doneAt);
  expect((await database.read("SELECT count(*) AS n FROM drafts")).rows[0]!.n).toBe(USERS);

  const env = { database, config, messengers: new Messengers(config) };
  stops.push(async () => env.messengers.close());
  // A scheduler page and a sender batch of SENT each (their production pages are 200 and 500).
  const dispatch = await answeredDuring(() => dispatchDue(env, SENT), server.url);
  expect(dispatch.healthAt).toBeLessThan(dispatch.doneAt);
  const deliver = await answeredDuring(() => deliverDue(env, 5, SENT), server.url);
  expect(deliver.healthAt).toBeLessThan(deliver.doneAt);
  expect((await database.read("SELECT count(*) AS n FROM messages WHERE state = 'sent'")).rows[0]!.n).toBe(SENT);
}, 120_000);
