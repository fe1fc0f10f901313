import { expect, test } from "bun:test";
import { listDrafts } from "../../src/drafts";
import { MINUTE, ONLY_WELCOME, startWorld, T0 } from "./support";

test("a rule's review_window overrides the project's: the deadline is creation + the rule's window", async () => {
  // Open all day every day, so the deadline is not moved into a window and shows the review window as is.
  const w = await startWorld(`review_window = "2h"
send_window = { start = "00:00", end = "24:00", days = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] }
${ONLY_WELCOME}
[[projects.rules]]
id = "welcome"
review_window = "10m"
`);
  await w.signUp("ann");
  w.clock.advance(5 * MINUTE); // created at T0 + 5 min, not at the signup
  expect((await w.evaluate()).map((m) => m.ruleId)).toEqual(["welcome"]);
  const [draft] = await listDrafts(w.server.ctx.database, { projectId: "acme" });
  expect(draft!.createdAt).toBe(T0 + 5 * MINUTE);
  expect(draft!.deadline).toBe(draft!.createdAt + 10 * MINUTE); // not + 2 h, the project's
});
