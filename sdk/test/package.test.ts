import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as sdk from "../src/index.js";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

describe("package surface", () => {
  it("User-Agent version matches package.json", () => {
    assert.equal(sdk.SDK_VERSION, pkg.version);
  });

  it("exports everything SPEC §12 names", () => {
    for (const name of [
      "VibeFollow",
      "chunk",
      "STANDARD_EVENT_NAMES",
      "VibeFollowError",
      "AuthError",
      "ValidationError",
      "RateLimitError",
      "ServerError",
      "NetworkError",
      "WebhookSignatureError",
    ]) {
      assert.ok(name in sdk, `${name} is exported`);
    }
  });

  it("error classes form one hierarchy with the documented statuses", () => {
    for (const cls of [sdk.AuthError, sdk.ValidationError, sdk.RateLimitError, sdk.ServerError, sdk.NetworkError, sdk.WebhookSignatureError]) {
      assert.ok(cls.prototype instanceof sdk.VibeFollowError, cls.name);
    }
    const network = new sdk.NetworkError("down");
    assert.equal(network.status, 0);
    assert.equal(network.name, "NetworkError");
    const validation = new sdk.ValidationError("bad", "properties.feature");
    assert.equal(validation.status, 422);
    assert.equal(validation.code, "validation_failed");
    assert.equal(validation.field, "properties.feature");
  });

  it("has one runtime dependency, valibot", () => {
    assert.deepEqual(Object.keys(pkg.dependencies), ["valibot"]);
  });
});
