import { afterEach, expect, test } from "bun:test";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { drainQueue } from "../../src/pipeline";
import { runEvaluator } from "../../src/rules";
import { startTestServer, type TestServer } from "../support/harness";
import { DAY, members } from "./support";

const T = Date.parse("2026-05-04T10:00:00Z");
let server: TestServer | undefined;
afterEach(async () => {
  setClock(systemClock);
  await server?.close();
  server = undefined;
});

test("the evaluator recomputes time-based audiences: a `within` window that lapses records an exit", async () => {
  const clock = manualClock(T);
  setClock(clock);
  server = await startTestServer(`[[projects]]
id = "acme"
  [[projects.audiences]]
  id = "recent_x"
  filter = { performed = "x", within = "1d" }
`, { background: false });
  const db = server.ctx.database;
  const post = async (path: string, body: unknown) => expect((await server!.api(path, { body })).status).toBe(202);
  await post("/api/v1/users", { external_user_id: "ann", email: "ann@example.com" });
  await post("/api/v1/events", { external_user_id: "ann", name: "x" });
  await drainQueue(server.ctx);
  expect(await members(db, "acme", "recent_x")).toEqual(["ann"]);

  // Nothing touches ann any more: only the evaluator's recompute can notice that her x is now 2 days old.
  clock.advance(2 * DAY);
  await runEvaluator(server.ctx, { trigger: "manual" });
  expect(await members(db, "acme", "recent_x")).toEqual([]);
  const history = await db.read("SELECT entered_at, exited_at FROM audience_history WHERE audience_id = 'recent_x'");
  expect(history.rows.map((r) => [Number(r.entered_at), Number(r.exited_at)])).toEqual([[T, T + 2 * DAY]]);
});
