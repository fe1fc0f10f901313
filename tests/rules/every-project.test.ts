import { afterEach, expect, test } from "bun:test";
import { createDrafts, listDrafts } from "../../src/drafts";
import { createKey } from "../../src/keys/service";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { drainQueue } from "../../src/pipeline";
import { runEvaluator } from "../../src/rules";
import { startTestServer, type TestServer } from "../support/harness";
import { T0 } from "./support";

let server: TestServer | undefined;
afterEach(async () => {
  setClock(systemClock);
  await server?.close();
  server = undefined;
});

test("one evaluator run covers every project: a signup in each gets its welcome draft", async () => {
  setClock(manualClock(T0));
  server = await startTestServer(`[[projects]]\nid = "acme"\nname = "Acme"\n[[projects]]\nid = "beta"\nname = "Beta"\n`, { background: false });
  // The harness's key is acme's; beta's users come in with beta's own key.
  const keys = { acme: server.apiKey, beta: (await createKey(server.ctx.database, "beta", "test")).key };
  for (const [project, key] of Object.entries(keys)) {
    const post = async (path: string, body: unknown) =>
      expect((await server!.api(path, { body, headers: { authorization: `Bearer ${key}` } })).status).toBe(202);
    await post("/api/v1/users", { external_user_id: `${project}-ann`, email: `ann@${project}.example` });
    await post("/api/v1/events", { external_user_id: `${project}-ann`, name: "user_signed_up", properties: { plan: "free" } });
  }
  await drainQueue(server.ctx);
  await runEvaluator(server.ctx, { trigger: "manual", onMatches: async (tx, m) => void (await createDrafts(tx, m, server!.ctx.config)) });
  const drafts = await listDrafts(server.ctx.database);
  expect(drafts.map((d) => [d.projectId, d.externalUserId, d.ruleId]).sort()).toEqual([
    ["acme", "acme-ann", "welcome"],
    ["beta", "beta-ann", "welcome"],
  ]);
});
