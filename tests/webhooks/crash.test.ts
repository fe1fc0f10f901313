import { afterAll, afterEach, expect, test } from "bun:test";
import { createClient } from "@libsql/client";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfigText } from "../../src/config/load";
import { createKey } from "../../src/keys/service";
import { startVibefollow } from "../../src/main";
import { drainQueue } from "../../src/pipeline";
import { listDeliveries, webhookService } from "../../src/webhooks";
import { tempDir } from "../support/harness";
import { spawnServer, until } from "../support/processes";
import { ONLY_WELCOME, startWorld } from "../drafts/support";
import { endpointToml, startReceiver, type Receiver } from "./support";

const tmp = tempDir("vf-webhook-crash-");
afterAll(() => tmp.cleanup());
let receiver: Receiver | undefined;
afterEach(() => receiver?.stop());



test("kill -9 while a delivery is in flight: after restart it is delivered again, same id (at-least-once)", async () => {
  // The first request hangs (the receiver is slow), so the kill lands mid-POST.
  receiver = startReceiver([{ status: 200, delayMs: 30_000 }], 200);
  const db = join(tmp.dir, "vf.db");
  const toml = `[database]\nurl = "file:${db}"\n[evaluator]\nenabled = false\n[[projects]]\nid = "acme"\nname = "Acme"\n${ONLY_WELCOME}${endpointToml(receiver.url, ["quarantine.added"])}`;
  const configPath = join(tmp.dir, "vf.toml");
  writeFileSync(configPath, toml);

  // Cause one quarantine.added through the real API and normaliser, background loops off.
  const seeded = await startVibefollow({ loaded: { config: parseConfigText(toml), file: configPath, embeddedDefaults: false }, listen: "127.0.0.1:0", background: false });
  const { key } = await createKey(seeded.ctx.database, "acme", "crash");
  const res = await fetch(seeded.url + "/api/v1/events/bulk", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ events: [{ external_user_id: "q", name: "x", properties: { aB: 1, a_b: 2 } }] }),
  });
  expect(res.status).toBe(200);
  await drainQueue(seeded.ctx);
  const [pending] = await listDeliveries(seeded.ctx.database, "acme");
  expect(pending).toMatchObject({ state: "pending", attempts: 0 });
  await seeded.stop();

  const reader = createClient({ url: `file:${db}` });
  const row = async () => (await reader.execute("SELECT state, attempts, claimed_at FROM webhook_deliveries")).rows[0]!;
  try {
    const first = spawnServer(configPath);
    await until(() => receiver!.received.length === 1, 45_000, "the first attempt to reach the receiver");
    first.kill(9);
    await first.exited;
    expect(await row()).toMatchObject({ state: "pending", attempts: 1, claimed_at: expect.any(Number) });

    const second = spawnServer(configPath);
    await until(async () => (await row()).state === "delivered", 45_000, "the delivery to be retried after restart");
    second.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  } finally {
    reader.close();
  }
  const bodies = receiver.bodies();
  expect(bodies).toHaveLength(2);
  expect(bodies[1]!.id).toBe(pending!.id);
  expect(receiver.received[1]!.body).toBe(receiver.received[0]!.body); // the very same bytes
  expect(receiver.received.map((r) => r.headers.get("x-vibefollow-attempt"))).toEqual(["1", "2"]);
}, 120_000);

test("a graceful stop aborts the attempt in flight and hands it back untouched; the next start delivers it", async () => {
  receiver = startReceiver([{ status: 200, delayMs: 30_000 }], 200);
  const w = await startWorld(ONLY_WELCOME + endpointToml(receiver.url, ["draft.created"]));
  await w.signUp("ann");
  await w.evaluate();
  const service = webhookService({ database: w.server.ctx.database, config: w.server.ctx.config, intervalMs: 10 });
  await service.start();
  await until(() => receiver!.received.length === 1, 20_000, "the attempt to start");
  const stopped = Date.now();
  await service.stop();
  // Aborted, not ended by the attempt's own 10 s limit (that would also count an attempt: see the row below).
  expect(Date.now() - stopped).toBeLessThan(8_000);
  const [row] = await listDeliveries(w.server.ctx.database, "acme");
  expect(row).toMatchObject({ state: "pending", attempts: 0 });
  expect(await w.sql("SELECT claimed_at FROM webhook_deliveries")).toEqual([{ claimed_at: null }]);

  // Started again (the real loop on its own timer): delivered, same id.
  await service.start();
  await until(async () => (await listDeliveries(w.server.ctx.database, "acme"))[0]!.state === "delivered", 20_000, "the delivery");
  await service.stop();
  expect(new Set(receiver.bodies().map((b) => b.id))).toEqual(new Set([row!.id]));
});
