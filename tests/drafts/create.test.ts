import { expect, test } from "bun:test";
import { createDrafts, listDrafts, type DraftMatch } from "../../src/drafts";
import { drainQueue } from "../../src/pipeline";
import { ONLY_WELCOME, startWorld, T0 } from "./support";

test("createDrafts: one draft per occasion across chunks and re-runs; users without email and unknown rules are skipped", async () => {
  const w = await startWorld(ONLY_WELCOME);
  const users = Array.from({ length: 250 }, (_, i) => ({ external_user_id: `u${i}`, email: `u${i}@example.com`, traits: { name: `User ${i}` } }));
  expect((await w.server.api("/api/v1/users/bulk", { body: { users } })).status).toBe(200);
  await w.identify("nomail", null);
  await drainQueue(w.server.ctx);
  const ids = new Map((await w.sql("SELECT id, external_user_id FROM tracked_users")).map((r) => [String(r.external_user_id), Number(r.id)]));
  const match = (userId: number, ruleId = "welcome"): DraftMatch => ({ projectId: "acme", ruleId, ruleKind: "welcome", userId, occasion: "once", firedAt: T0 });
  const matches = [...users.map((u) => match(ids.get(u.external_user_id)!)), match(ids.get("u0")!), match(ids.get("nomail")!), match(ids.get("u1")!, "no_such_rule")];
  const database = w.server.ctx.database;
  const created = await database.write((tx) => createDrafts(tx, matches, w.server.ctx.config));
  expect(created).toHaveLength(250);
  expect(new Set(created).size).toBe(250);
  expect(await database.write((tx) => createDrafts(tx, matches.slice(0, 10), w.server.ctx.config))).toEqual([]);
  expect(await w.sql("SELECT count(*) AS n FROM drafts")).toEqual([{ n: 250 }]);
  expect(await w.sql("SELECT count(*) AS n FROM draft_history")).toEqual([{ n: 250 }]);
  const byUser = new Map((await listDrafts(database, { limit: 1000 })).map((d) => [d.externalUserId, d]));
  expect(byUser.get("u42")!.subject).toBe("Welcome to Acme, User");
  expect(byUser.get("u42")!.text).toContain("Hi User,");
  expect(byUser.has("nomail")).toBe(false);
});
