import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { parseConfigText } from "../../src/config/load";
import { startVibefollow, type Running } from "../../src/main";
import { recomputeAudiences } from "../../src/audiences";
import { tempDir } from "../support/harness";
import { members } from "./support";

/**
 * An audience's filter edited in the config, then a restart: membership follows the new filter at once, not
 * at the next hourly evaluator run (which the config here turns off, so only the start can do it).
 */
const tmp = tempDir();
afterAll(() => tmp.cleanup());

const configWith = (audiences: Record<string, string>) =>
  `[database]\nurl = "file:${join(tmp.dir, "vf.db")}"\n[evaluator]\nenabled = false\n[[projects]]\nid = "acme"\n` +
  Object.entries(audiences).map(([id, filter]) => `  [[projects.audiences]]\n  id = "${id}"\n  filter = ${filter}\n`).join("");

async function start(toml: string): Promise<Running> {
  const loaded = { config: parseConfigText(toml, "test.toml"), file: "test.toml", embeddedDefaults: false };
  const running = await startVibefollow({ loaded, listen: "127.0.0.1:0", background: true });
  // The start-up recompute, when there is one, runs in the background; wait for it.
  const service = running.ctx.services.find((s) => s.name === "audience-definitions") as { whenIdle?: () => Promise<void> } | undefined;
  await service?.whenIdle?.();
  return running;
}

test("after a restart with an edited, new or removed audience, membership follows the new definitions", async () => {
  let running = await start(configWith({ pro: `{ field = "plan", eq = "pro" }` }));
  const project = running.ctx.config.projects[0]!;
  await running.ctx.database.execute(`INSERT INTO tracked_users (project_id, external_user_id, plan, traits, stage, created_at, updated_at)
    VALUES ('acme', 'ann', 'pro', '{}', 'signed_up', 0, 0), ('acme', 'bob', 'free', '{}', 'signed_up', 0, 0)`);
  await recomputeAudiences(running.ctx.database, project, Date.now()); // as the evaluator or the CLI would
  expect(await members(running.ctx.database, "acme", "pro")).toEqual(["ann"]);
  await running.stop();

  // The filter is edited and an audience added: ann leaves, bob enters (with history), the new one fills.
  running = await start(configWith({ pro: `{ field = "plan", eq = "free" }`, newcomers: `{ field = "stage", eq = "signed_up" }` }));
  const db = running.ctx.database;
  expect(await members(db, "acme", "pro")).toEqual(["bob"]);
  expect(await members(db, "acme", "newcomers")).toEqual(["ann", "bob"]);
  const history = await db.read("SELECT u.external_user_id AS user, exited_at IS NOT NULL AS exited FROM audience_history h JOIN tracked_users u ON u.id = h.user_id WHERE audience_id = 'pro' ORDER BY h.id");
  expect(history.rows.map((r) => [r.user, r.exited])).toEqual([["ann", 1], ["bob", 0]]);
  await running.stop();

  // Both are removed from the config: their members go too.
  running = await start(configWith({}));
  expect(await members(running.ctx.database, "acme", "pro")).toEqual([]);
  expect(await members(running.ctx.database, "acme", "newcomers")).toEqual([]);
  await running.stop();
});

test("a recompute stopped part-way leaves no fingerprint: the next start redoes it, even for the definitions before an edit", async () => {
  const running = await start(configWith({ pro: `{ field = "plan", eq = "pro" }` }));
  const project = running.ctx.config.projects[0]!;
  const key = "audience_definitions:acme";
  const fingerprint = async () => (await running.ctx.database.read({ sql: "SELECT value FROM meta WHERE key = ?", args: [key] })).rows[0]?.value;
  expect(await fingerprint()).toBeDefined();
  const stopped = new AbortController();
  stopped.abort();
  await recomputeAudiences(running.ctx.database, project, Date.now(), { signal: stopped.signal });
  expect(await fingerprint()).toBeUndefined();
  await running.stop();
});
