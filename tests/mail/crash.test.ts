import { afterAll, expect, test } from "bun:test";
import { createClient } from "@libsql/client";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfigText } from "../../src/config/load";
import { createDrafts } from "../../src/drafts";
import { startVibefollow } from "../../src/main";
import { drainQueue } from "../../src/pipeline";
import { runEvaluator } from "../../src/rules";
import { createKey } from "../../src/keys/service";
import { tempDir } from "../support/harness";
import { spawnServer, until } from "../support/processes";
import { ONLY_WELCOME } from "../drafts/support";
import { startSmtpSink } from "./smtp-sink";

const USERS = 60;
const tmp = tempDir("vf-crash-");
afterAll(() => tmp.cleanup());



test("kill -9 during a burst of sends, restart, SIGTERM, restart: no email arrives twice, and none is lost but in the at-most-once window", async () => {
  const sink = await startSmtpSink({ delayMs: 15 });
  const db = join(tmp.dir, "vf.db");
  const toml = `[database]\nurl = "file:${db}"\n[smtp]\nurl = "${sink.url}"\nmax_connections = 4\n[[projects]]\nid = "acme"\nname = "Acme"\nautopilot = true\nreview_window = "0s"\nsend_window = { start = "00:00", end = "24:00" }\nfrequency_cap = { per_day = 0, per_week = 0 }\n${ONLY_WELCOME}`;
  const configPath = join(tmp.dir, "vf.toml");
  writeFileSync(configPath, toml);

  // Seed through the real API, normaliser and evaluator, in this process, with background loops off.
  const seeded = await startVibefollow({ loaded: { config: parseConfigText(toml), file: configPath, embeddedDefaults: false }, listen: "127.0.0.1:0", background: false });
  const { key } = await createKey(seeded.ctx.database, "acme", "crash");
  const post = (path: string, body: unknown) =>
    fetch(seeded.url + path, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  const ids = Array.from({ length: USERS }, (_, i) => `u${i}`);
  expect((await post("/api/v1/users/bulk", { users: ids.map((id) => ({ external_user_id: id, email: `${id}@example.com` })) })).status).toBe(200);
  expect((await post("/api/v1/events/bulk", { events: ids.map((id) => ({ external_user_id: id, name: "user_signed_up", properties: { plan: "free", source: "t" } })) })).status).toBe(200);
  await drainQueue(seeded.ctx);
  await runEvaluator(seeded.ctx, { trigger: "manual", onMatches: async (tx, m) => void (await createDrafts(tx, m, seeded.ctx.config)) });
  await seeded.stop();

  const reader = createClient({ url: `file:${db}` });
  const count = async (sql: string) => Number((await reader.execute(sql)).rows[0]!.n);
  expect(await count("SELECT count(*) AS n FROM drafts WHERE state = 'scheduled'")).toBe(USERS);

  const first = spawnServer(configPath);
  await until(() => sink.arrivals.length >= 15, 30_000, "the burst to start");
  first.kill(9);
  await first.exited;
  const atKill = async (state: string) => (await reader.execute({ sql: "SELECT smtp_message_id FROM messages WHERE state = ?", args: [state] })).rows.map((r) => String(r.smtp_message_id));
  const sendingAtKill = await atKill("sending");
  const deliveringAtKill = await atKill("delivering");
  await Bun.sleep(100); // the sink answers after delayMs: let what it already took land in `arrivals`
  const arrivedBeforeRestart = sink.arrivals.length;
  const arrivedIds = new Set(sink.arrivals.map((a) => a.mail.messageId!));
  // The final dot is released only after `delivering` is committed: a message the server took is never still `sending`.
  for (const id of sendingAtKill) expect(arrivedIds.has(id)).toBe(false);
  expect(arrivedBeforeRestart).toBeLessThan(USERS); // the crash really was mid-burst

  // A graceful stop (SIGTERM) in the middle of the rest of the burst finishes its SMTP calls: nothing left in flight.
  const second = spawnServer(configPath);
  await until(() => sink.arrivals.length >= arrivedBeforeRestart + 12, 30_000, "the burst to resume");
  second.kill("SIGTERM");
  expect(await second.exited).toBe(0);
  const arrivedAtStop = sink.arrivals.length;
  expect(await count("SELECT count(*) AS n FROM messages WHERE state IN ('sending', 'delivering')")).toBe(0);

  const third = spawnServer(configPath);
  try {
    await until(async () => (await count("SELECT count(*) AS n FROM drafts WHERE state = 'sent'")) === USERS, 60_000, "every draft to be sent");
    await Bun.sleep(200); // anything still on the wire lands
  } finally {
    third.kill("SIGTERM");
    await third.exited;
  }
  expect(await count("SELECT count(*) AS n FROM messages WHERE state = 'sent'")).toBe(USERS);
  // The sink accepts everything: each message took one attempt, however many claims a kill -9 or SIGTERM cut short.
  expect(await count("SELECT count(*) AS n FROM messages WHERE attempts != 1")).toBe(0);
  // Those caught `delivering` by the kill were recorded as sent by the restart's reconciliation, not re-sent.
  const assumed = (await reader.execute("SELECT smtp_message_id FROM messages WHERE smtp_response = 'reconciled: assumed delivered after restart'")).rows.map((r) => String(r.smtp_message_id));
  expect(assumed.sort()).toEqual([...deliveringAtKill].sort());
  await sink.close();

  const byMessageId = new Map<string, number>();
  for (const a of sink.arrivals) byMessageId.set(a.mail.messageId!, (byMessageId.get(a.mail.messageId!) ?? 0) + 1);
  const duplicated = [...byMessageId].filter(([, n]) => n > 1).map(([id]) => id);
  expect(duplicated).toEqual([]); // never a duplicate across the kill -9 or the graceful stop
  // The one loss the design allows (docs/drafts-and-sending.md, "The trade-off, precisely"): a message committed
  // `delivering` whose final dot the kill kept from the SMTP server — written after the commit, or written but
  // not yet read by the server when the dying socket was reset. Only such a message may be missing; every
  // other one arrived exactly once.
  const sent = (await reader.execute("SELECT smtp_message_id FROM messages WHERE state = 'sent'")).rows.map((r) => String(r.smtp_message_id));
  const lost = sent.filter((id) => !byMessageId.has(id));
  for (const id of lost) expect(deliveringAtKill).toContain(id);
  expect(byMessageId.size).toBe(USERS - lost.length);
  expect(new Set(sink.arrivals.flatMap((a) => a.envelopeTo)).size).toBe(USERS - lost.length);
  expect(sink.arrivals.length).toBe(USERS - lost.length); // exactly once each
  console.log(`crash test: ${arrivedBeforeRestart} arrived before the restart, ${sendingAtKill.length} sending + ${deliveringAtKill.length} delivering at the kill (${lost.length} of them lost in the at-most-once window), ${arrivedAtStop} when SIGTERM stopped the second run, ${duplicated.length} duplicated, ${sink.arrivals.length} arrivals in all`);
  reader.close();
}, 120_000);
