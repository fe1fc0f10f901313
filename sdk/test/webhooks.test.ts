import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { VibeFollow, WebhookSignatureError, constructWebhookEvent, signWebhookPayload } from "../src/index.js";

const secret = "whsec_test_secret";
const body = JSON.stringify({ type: "email.sent", id: "evt_01", created: 1_735_689_600, data: { message_id: "msg_1" } });
const nowSec = Math.floor(Date.now() / 1000);

// Built independently of the SDK's signer, straight from SPEC §10.
function sign(raw: string, t: number, key = secret): string {
  return `t=${t},v1=${createHmac("sha256", key).update(`${t}.${raw}`).digest("hex")}`;
}

const vf = new VibeFollow({ apiKey: "k", baseUrl: "http://vf.test" });

function rejectsWith(code: string, fn: () => unknown) {
  assert.throws(fn, (e: unknown) => e instanceof WebhookSignatureError && e.code === code && e.status === 400);
}

describe("webhooks.constructEvent", () => {
  it("returns the parsed event for a valid signature", () => {
    const event = vf.webhooks.constructEvent(body, sign(body, nowSec), secret);
    assert.deepEqual(event, JSON.parse(body));
    assert.equal(event.type, "email.sent");
  });

  it("refuses a toleranceSec of NaN or below 0 (NaN would accept a signature of any age)", () => {
    const old = sign(body, nowSec - 100_000);
    assert.throws(() => vf.webhooks.constructEvent(body, old, secret, { toleranceSec: Number.NaN }), RangeError);
    assert.throws(() => vf.webhooks.constructEvent(body, old, secret, { toleranceSec: -1 }), RangeError);
  });

  it("accepts the raw body as bytes and the header as an array (node:http style)", () => {
    const event = constructWebhookEvent(new TextEncoder().encode(body), [sign(body, nowSec)], secret);
    assert.equal(event.id, "evt_01");
  });

  it("accepts any of several v1 signatures (secret rotation)", () => {
    const good = sign(body, nowSec).split(",")[1];
    const header = `t=${nowSec},v1=${"ab".repeat(32)},${good}`;
    assert.equal(constructWebhookEvent(body, header, secret).id, "evt_01");
  });

  it("rejects a tampered body", () => {
    const header = sign(body, nowSec);
    rejectsWith("signature_mismatch", () => constructWebhookEvent(body.replace("msg_1", "msg_2"), header, secret));
  });

  it("rejects a re-serialised body (whitespace matters)", () => {
    const header = sign(body, nowSec);
    rejectsWith("signature_mismatch", () => constructWebhookEvent(JSON.stringify(JSON.parse(body), null, 2), header, secret));
  });

  it("rejects a tampered timestamp or the wrong secret", () => {
    const [, v1] = sign(body, nowSec).split(",");
    rejectsWith("signature_mismatch", () => constructWebhookEvent(body, `t=${nowSec + 1},${v1}`, secret));
    rejectsWith("signature_mismatch", () => constructWebhookEvent(body, sign(body, nowSec, "other"), secret));
  });

  // The clock is pinned with `now`, so the 300 s boundary is exact however slow the run is.
  const now = nowSec * 1000;

  it("rejects an expired signature, and one from too far in the future", () => {
    assert.equal(constructWebhookEvent(body, sign(body, nowSec - 300), secret, { now }).id, "evt_01");
    rejectsWith("timestamp_expired", () => constructWebhookEvent(body, sign(body, nowSec - 301), secret, { now }));
    rejectsWith("timestamp_expired", () => constructWebhookEvent(body, sign(body, nowSec + 301), secret, { now }));
    rejectsWith("timestamp_expired", () => constructWebhookEvent(body, sign(body, nowSec - 3600), secret));
  });

  it("honours toleranceSec", () => {
    const old = sign(body, nowSec - 600);
    assert.equal(constructWebhookEvent(body, old, secret, { toleranceSec: 900, now }).id, "evt_01");
    rejectsWith("timestamp_expired", () => constructWebhookEvent(body, sign(body, nowSec - 20), secret, { toleranceSec: 10, now }));
  });

  it("rejects missing and malformed headers", () => {
    rejectsWith("signature_missing", () => constructWebhookEvent(body, undefined, secret));
    rejectsWith("signature_missing", () => constructWebhookEvent(body, "", secret));
    rejectsWith("signature_malformed", () => constructWebhookEvent(body, "v1=abcd", secret));
    rejectsWith("signature_malformed", () => constructWebhookEvent(body, `t=${nowSec}`, secret));
    rejectsWith("signature_malformed", () => constructWebhookEvent(body, `t=soon,v1=abcd`, secret));
    rejectsWith("signature_mismatch", () => constructWebhookEvent(body, `t=${nowSec},v1=abcd`, secret));
    rejectsWith("secret_missing", () => constructWebhookEvent(body, sign(body, nowSec), ""));
  });

  it("rejects a correctly signed body that is not JSON", () => {
    rejectsWith("invalid_payload", () => constructWebhookEvent("not json", sign("not json", nowSec), secret));
  });

  it("signWebhookPayload produces what constructEvent accepts", () => {
    assert.equal(signWebhookPayload(body, secret, 1_700_000_000), sign(body, 1_700_000_000));
    assert.equal(constructWebhookEvent(body, signWebhookPayload(body, secret), secret).id, "evt_01");
  });
});
