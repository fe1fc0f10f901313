import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
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
    assert.equal(sdk.default, sdk.VibeFollow, "the client is the default export too");
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

describe("package entry points", () => {
  // Node 20.19+ (and 22.12+) can require() an ES module, but only through an exports condition that
  // require matches: with only "import", a CommonJS app on Node 20 got ERR_PACKAGE_PATH_NOT_EXPORTED.
  it("resolves for require() from a CommonJS app, not only for import", () => {
    const entry = pkg.exports["."];
    assert.equal(entry.types, "./dist/index.d.ts", "types first, for TypeScript");
    const conditions = Object.keys(entry);
    assert.ok(
      conditions.includes("default") || conditions.includes("require"),
      `exports["."] has a condition require() matches (has: ${conditions.join(", ")})`,
    );
    const target = entry.default ?? entry.require;
    assert.equal(target, entry.import ?? target, "one build for both: the same ES module");
  });

  it("is loadable with require() under Node (dist/ built first when missing)", () => {
    const root = fileURLToPath(new URL("..", import.meta.url));
    if (!existsSync(new URL("../dist/index.js", import.meta.url))) {
      execFileSync(fileURLToPath(new URL("../node_modules/.bin/tsc", import.meta.url)), ["-p", "tsconfig.json"], { cwd: root, stdio: "inherit" });
    }
    // A child process: the package name resolves by self-reference through the exports map, as in an app.
    // Node itself (also when this suite runs under Bun, whose require() is not the one in question).
    const out = execFileSync("node", ["-e", 'process.stdout.write(typeof require("@vibefollow/sdk").VibeFollow)'], {
      cwd: root,
      encoding: "utf8",
    });
    assert.equal(out, "function");
  });
});
