import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { NetworkError, VibeFollow } from "../src/index.js";
import { startFakeServer, type FakeServer } from "./support/fake-server.js";
import { startTcpProxy } from "./support/tcp-proxy.js";

// The same scenarios as integration.test.ts, against a local fake server, so that every run checks
// the SDK over real sockets with the runtime's own fetch (undici under Node, Bun's under Bun).
describe("over real sockets (fake server)", () => {
  let server: FakeServer;
  before(async () => {
    server = await startFakeServer();
  });
  after(async () => {
    await server.close();
  });

  it("a response lost to a dropped connection is retried with the same key and stored once", async () => {
    const proxy = await startTcpProxy(server.url, (i) => (i === 0 ? "drop-after-forward" : "forward"));
    try {
      const before = server.events.length;
      const vf = new VibeFollow({ apiKey: "sk_live_fake", baseUrl: proxy.url });
      assert.deepEqual(await vf.users.featureUsed("u-drop", { feature: "export" }), { accepted: true });
      assert.equal(proxy.connections(), 2, "first connection dropped, second succeeded");
      assert.equal(proxy.upstreamStatus(0), 202, "the server did process the first attempt");
      const keys = proxy.idempotencyKeys();
      assert.equal(keys.length, 2);
      assert.equal(keys[0], keys[1], "same Idempotency-Key on the retry");
      assert.equal(server.events.length - before, 1, "stored exactly once");
    } finally {
      await proxy.close();
    }
  });

  it("a 429 with Retry-After: 1 is waited out, then retried", async () => {
    const proxy = await startTcpProxy(server.url, (i) => (i === 0 ? "respond-429" : "forward"), { retryAfterSec: 1 });
    try {
      const before = server.events.length;
      const vf = new VibeFollow({ apiKey: "sk_live_fake", baseUrl: proxy.url });
      const started = Date.now();
      await vf.events.track("report_exported", "u-429", { format: "csv" });
      assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
      assert.equal(proxy.connections(), 2);
      assert.equal(server.events.length - before, 1);
    } finally {
      await proxy.close();
    }
  });

  it("a server that never answers times out with NetworkError code timeout", async () => {
    const vf = new VibeFollow({ apiKey: "sk_live_fake", baseUrl: server.url, timeoutMs: 100, maxRetries: 0 });
    const err = await vf.events.track("never_answer", "u1").catch((e) => e);
    assert.ok(err instanceof NetworkError, String(err));
    assert.equal(err.code, "timeout");
  });

  it("a refused connection is a NetworkError after the retries", async () => {
    const vf = new VibeFollow({ apiKey: "k", baseUrl: "http://127.0.0.1:9", maxRetries: 1 });
    const err = await vf.events.track("x", "u1").catch((e) => e);
    assert.ok(err instanceof NetworkError, String(err));
    assert.equal(err.code, "network_error");
    assert.equal(err.status, 0);
  });
});
