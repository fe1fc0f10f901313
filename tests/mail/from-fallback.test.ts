import { afterEach, expect, test } from "bun:test";
import { createDrafts, runSendingTick, type SendingEnv } from "../../src/drafts";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { drainQueue } from "../../src/pipeline";
import { runEvaluator } from "../../src/rules";
import { startTestServer, type TestServer } from "../support/harness";
import { startSmtpSink, type Arrival, type SmtpSink } from "./smtp-sink";

// src/mail/compose.ts: the From header is the project's sender.from, else its [projects.smtp] from, else the
// global [smtp] from. tests/drafts/support.ts always sets sender.from, so this file starts its own server.
const T0 = Date.parse("2026-03-02T08:00:00Z");
const OTHER_RULES = ["onboarding_stalled", "trial_expiring", "payment_failed", "cancellation_save", "win_back", "inactive_14d", "first_feature"]
  .map((id) => `[[projects.rules]]\nid = "${id}"\nenabled = false\n`)
  .join("");

const servers: { server: TestServer; env: SendingEnv }[] = [];
const sinks: SmtpSink[] = [];
afterEach(async () => {
  setClock(systemClock);
  while (servers.length) {
    const { server, env } = servers.pop()!;
    env.messengers.close();
    await server.close();
  }
  while (sinks.length) await sinks.pop()!.close();
});

/** A real server with `toml`, one signed-up user, the welcome draft sent through the real sending tick. */
async function sendWelcome(toml: string, sink: SmtpSink): Promise<{ arrival: Arrival; stored: string }> {
  setClock(manualClock(T0));
  const server = await startTestServer(toml, { background: false });
  const env = (server.ctx.services.find((s) => s.name === "sending") as unknown as { env: SendingEnv }).env;
  servers.push({ server, env });
  for (const [path, body] of [
    ["/api/v1/users", { external_user_id: "fay", email: "fay@example.com", traits: { name: "Fay" } }],
    ["/api/v1/events", { external_user_id: "fay", name: "user_signed_up", properties: { plan: "free" } }],
  ] as const) {
    const res = await server.api(path, { body });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
  }
  await drainQueue(server.ctx);
  await runEvaluator(server.ctx, { trigger: "manual", onMatches: async (tx, m) => void (await createDrafts(tx, m, server.ctx.config)) });
  expect((await runSendingTick(env)).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  const [arrival] = await sink.waitFor(1);
  const rs = await server.ctx.database.read("SELECT from_address FROM messages");
  return { arrival: arrival!, stored: String(rs.rows[0]?.from_address) };
}

const PROJECT = `[[projects]]\nid = "acme"\nname = "Acme"\nautopilot = true\nreview_window = "0s"\nsend_window = { start = "00:00", end = "24:00" }\n${OTHER_RULES}`;

test("no sender.from and no [projects.smtp]: From is the global [smtp] from", async () => {
  const sink = await startSmtpSink();
  sinks.push(sink);
  const { arrival, stored } = await sendWelcome(`[smtp]\nurl = "${sink.url}"\nfrom = "Global Sender <global@mail.example.com>"\n${PROJECT}`, sink);
  expect(arrival.mail.from?.value).toEqual([{ address: "global@mail.example.com", name: "Global Sender" }]);
  expect(stored).toContain("<global@mail.example.com>");
  expect(arrival.mail.messageId).toMatch(/@mail\.example\.com>$/); // the Message-ID domain follows the From
});

test("a [projects.smtp] without from still falls back to the global [smtp] from", async () => {
  const sink = await startSmtpSink();
  sinks.push(sink);
  const unused = "smtp://127.0.0.1:1"; // the project's own SMTP is the one used
  const { arrival } = await sendWelcome(
    `[smtp]\nurl = "${unused}"\nfrom = "Global Sender <global@mail.example.com>"\n${PROJECT}[projects.smtp]\nurl = "${sink.url}"\n`,
    sink,
  );
  expect(arrival.mail.from?.value).toEqual([{ address: "global@mail.example.com", name: "Global Sender" }]);
});
