import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../../src/cli/index";
import { approveDraft, editDraft, listDrafts, rejectDraft, rescheduleDraft } from "../../src/drafts";
import { DAY, HOUR, ONLY_WELCOME, startWorld, T0 } from "./support";

test("deadlines land in the send window in the user's own time zone, else the project's", async () => {
  const w = await startWorld(`send_window = { start = "09:00", end = "18:00", days = ["mon", "tue", "wed", "thu", "fri"] }\n` + ONLY_WELCOME);
  await w.signUp("ny", { timezone: "America/New_York" });
  await w.signUp("tokyo", { timezone: "Asia/Tokyo" });
  await w.signUp("mars", { timezone: "Mars/Olympus_Mons" }); // not a zone: the project's (Berlin) applies
  await w.evaluate();
  const byUser = Object.fromEntries((await listDrafts(w.server.ctx.database)).map((d) => [d.externalUserId, d]));
  // Created Monday 08:00Z; + 2h = 10:00Z.
  expect(new Date(byUser.ny!.deadline).toISOString()).toBe("2026-03-02T14:00:00.000Z"); // 05:00 in New York → 09:00 EST
  expect(byUser.ny!.timeZone).toBe("America/New_York");
  expect(new Date(byUser.tokyo!.deadline).toISOString()).toBe("2026-03-03T00:00:00.000Z"); // 19:00 in Tokyo → Tuesday 09:00
  expect(new Date(byUser.mars!.deadline).toISOString()).toBe("2026-03-02T10:00:00.000Z"); // 11:00 in Berlin: open
  expect(byUser.mars!.timeZone).toBe("Europe/Berlin");
});

test("a draft made on Friday evening waits for Monday morning", async () => {
  const friday = Date.parse("2026-03-06T16:30:00Z"); // 17:30 in Berlin
  const w = await startWorld(`autopilot = true\nsend_window = { start = "09:00", end = "18:00", days = ["mon", "tue", "wed", "thu", "fri"] }\n` + ONLY_WELCOME, "", friday);
  await w.signUp("fri");
  await w.evaluate();
  const [d] = await listDrafts(w.server.ctx.database);
  expect(new Date(d!.deadline).toISOString()).toBe("2026-03-09T08:00:00.000Z"); // Monday 09:00 CET
});

test("edit, reschedule and reject are recorded with their actor; closed drafts refuse changes", async () => {
  const w = await startWorld(ONLY_WELCOME);
  await w.signUp("eve");
  await w.evaluate();
  const [d] = await listDrafts(w.server.ctx.database);
  const db = w.server.ctx.database;
  const edited = await editDraft(db, d!.id, { subject: "Hello Eve", text: "Hi Eve,\n\nShort and sweet.\n\nJane" }, "dashboard:jane");
  expect(edited.subject).toBe("Hello Eve");
  expect(edited.text).toContain("Short and sweet.");
  expect(edited.text).toContain("https://vf.example.com/u/"); // the unsubscribe footer stays
  expect(edited.html).toContain("<p>Short and sweet.</p>");
  await expect(editDraft(db, d!.id, { subject: "  " }, "x")).rejects.toMatchObject({ status: 422 });

  await expect(rescheduleDraft(db, d!.id, T0 - HOUR, "cli")).rejects.toMatchObject({ status: 422 });
  const at = T0 + DAY + 5 * HOUR;
  const moved = await rescheduleDraft(db, d!.id, at, "cli");
  expect([moved.state, moved.deadline, moved.sendAt]).toEqual(["pending_review", at, at]);

  const rejected = await rejectDraft(db, d!.id, "dashboard:jane", "not now");
  expect([rejected.state, rejected.reason]).toEqual(["rejected", "not now"]);
  await expect(rescheduleDraft(db, d!.id, at, "cli")).rejects.toMatchObject({ status: 409 });
  await expect(editDraft(db, "drf_nope", { subject: "x" }, "cli")).rejects.toMatchObject({ status: 404 });
  const history = await w.sql("SELECT from_state, to_state, actor, note FROM draft_history WHERE draft_id = ? ORDER BY id", [d!.id]);
  expect(history.map((h) => `${h.actor}:${h.note}`)).toEqual([
    "evaluator:waiting for review",
    "dashboard:jane:edited",
    `cli:rescheduled to ${new Date(at).toISOString()}`,
    "dashboard:jane:not now",
  ]);
});

test("vibefollow drafts list|show|approve|reject|reschedule work headless", async () => {
  const w = await startWorld(ONLY_WELCOME);
  await w.signUp("fay");
  await w.signUp("gus");
  await w.evaluate();
  const config = join(w.server.dir, "cli.toml");
  writeFileSync(config, `[database]\nurl = "file:${join(w.server.dir, "vf.db")}"\n[[projects]]\nid = "acme"\nname = "Acme"\n${ONLY_WELCOME}`);
  // The first call runs the real executable entry point; the rest run the same CLI in this process (faster).
  const spawned = Bun.spawnSync([process.execPath, "src/cli/index.ts", "drafts", "list", "--project", "acme", "--state", "pending_review", "--json", "--config", config], {
    cwd: join(import.meta.dir, "../.."),
    env: { ...process.env, VIBEFOLLOW_LOG: "silent" },
  });
  const cli = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const saved = [console.log, console.error] as const;
    console.log = (...a: unknown[]) => void out.push(a.join(" ") + "\n");
    console.error = (...a: unknown[]) => void err.push(a.join(" ") + "\n");
    try {
      const code = await runCli(["drafts", ...args, "--config", config]);
      return { code, out: out.join(""), err: err.join("") };
    } finally {
      [console.log, console.error] = saved;
    }
  };
  const list = { code: spawned.exitCode, out: spawned.stdout.toString() };
  expect(list.code).toBe(0);
  const rows = JSON.parse(list.out) as { id: string; email: string; state: string }[];
  expect(rows.map((r) => r.email).sort()).toEqual(["fay@example.com", "gus@example.com"]);
  const [fay, gus] = [rows.find((r) => r.email.startsWith("fay"))!, rows.find((r) => r.email.startsWith("gus"))!];

  const human = await cli("list");
  expect(human.out).toContain(fay.id);
  expect(human.out).toContain('"Welcome to Acme, Fay"');
  // The user by the customer's own id as well as the address: a script knows its users by their ids.
  expect(human.out).toMatch(new RegExp(`^${fay.id} .* welcome +fay <fay@example.com> `, "m"));

  expect((await cli("approve", fay.id)).code).toBe(0);
  expect((await cli("reject", gus.id, "--reason", "duplicate account")).code).toBe(0);
  const again = await cli("approve", gus.id);
  expect(again.code).toBe(1);
  expect(again.err).toContain("rejected");
  expect((await cli("reschedule", fay.id, "--at", "2026-03-04T10:00:00Z")).code).toBe(0);
  expect((await cli("reschedule", fay.id, "--at", "tomorrow")).code).toBe(2);

  const show = await cli("show", fay.id);
  expect(show.code).toBe(0);
  expect(show.out).toContain("Subject: Welcome to Acme, Fay");
  expect(show.out).toContain("pending_review → scheduled  by cli  approved");
  expect(show.out).toContain("deadline 2026-03-04T10:00Z");
  expect(show.out).toMatch(/History:\n(.*\n){3}$/);
}, 30_000);

test("approving after the deadline sends at once while the window is open, else when it next opens", async () => {
  const w = await startWorld(ONLY_WELCOME);
  await w.signUp("hal");
  await w.signUp("ivy");
  await w.evaluate();
  const [hal, ivy] = (await listDrafts(w.server.ctx.database)).sort((a, b) => a.externalUserId!.localeCompare(b.externalUserId!));
  const { database, config } = w.server.ctx;
  w.clock.set(T0 + 3 * HOUR); // 12:00 in Berlin: the deadline (11:00) has passed, the window is open
  expect((await approveDraft(database, config, hal!.id, "cli")).sendAt).toBe(T0 + 3 * HOUR);
  w.clock.set(T0 + 10 * HOUR); // 19:00 in Berlin: closed until tomorrow 09:00
  expect((await approveDraft(database, config, ivy!.id, "cli")).sendAt).toBe(T0 + DAY);
});
