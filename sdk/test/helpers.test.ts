import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { STANDARD_EVENT_NAMES, ValidationError, VibeFollow, chunk } from "../src/index.js";
import { accepted, fakeFetch, json } from "./support/fake-fetch.js";

function setup() {
  const fetchImpl = fakeFetch(accepted());
  const vf = new VibeFollow({ apiKey: "sk_live_x", baseUrl: "http://vf.test", fetchImpl });
  return { vf, calls: fetchImpl.calls };
}

/** Runs fn, expects a ValidationError on `field`, and checks nothing was sent. */
async function rejectsBeforeSending(fn: (vf: VibeFollow) => Promise<unknown> | unknown, field: string) {
  const { vf, calls } = setup();
  await assert.rejects(
    async () => fn(vf),
    (e: unknown) => e instanceof ValidationError && e.field === field && e.status === 422,
  );
  assert.equal(calls.length, 0, "no request made");
}

describe("STANDARD_EVENT_NAMES", () => {
  it("lists the nine canonical names in SPEC §4 order, frozen", () => {
    assert.deepEqual(
      [...STANDARD_EVENT_NAMES],
      [
        "user_signed_up",
        "trial_started",
        "feature_used",
        "onboarding_step",
        "subscription_changed",
        "subscription_cancelled",
        "payment_failed",
        "trial_expiring",
        "user_invited",
      ],
    );
    assert.ok(Object.isFrozen(STANDARD_EVENT_NAMES));
  });
});

describe("users.identify", () => {
  it("posts external_user_id, lifts email to the top level, keeps the rest in traits", async () => {
    const { vf, calls } = setup();
    const res = await vf.users.identify("u1", { email: "ada@example.com", name: "Ada", plan: "pro", workspaceId: "w1" });
    assert.deepEqual(res, { accepted: true });
    assert.equal(calls[0]!.url, "http://vf.test/api/v1/users");
    assert.deepEqual(calls[0]!.body, {
      external_user_id: "u1",
      email: "ada@example.com",
      traits: { name: "Ada", plan: "pro", workspaceId: "w1" },
    });
  });

  it("sends empty traits when none are given and keeps email: null as a removal", async () => {
    const { vf, calls } = setup();
    await vf.users.identify("u1");
    await vf.users.identify("u2", { email: null });
    assert.deepEqual(calls[0]!.body, { external_user_id: "u1", traits: {} });
    assert.deepEqual(calls[1]!.body, { external_user_id: "u2", traits: { email: null } });
  });

  it("validates userId and traits before sending", async () => {
    await rejectsBeforeSending((vf) => vf.users.identify(""), "external_user_id");
    await rejectsBeforeSending((vf) => vf.users.identify("x".repeat(257)), "external_user_id");
    await rejectsBeforeSending((vf) => vf.users.identify("u1", [] as never), "traits");
    await rejectsBeforeSending((vf) => vf.users.identify("u1", { email: 42 as never }), "email");
  });
});

describe("users.identifyBulk", () => {
  it("posts users to /users/bulk and returns per-record results with received", async () => {
    const fetchImpl = fakeFetch(
      json(200, {
        data: { accepted: 1, rejected: 1, errors: [{ index: 1, code: "validation_failed", message: "bad", field: "email" }] },
        meta: { received: 2 },
      }),
    );
    const vf = new VibeFollow({ apiKey: "k", baseUrl: "http://vf.test", fetchImpl });
    const result = await vf.users.identifyBulk([
      { userId: "u1", traits: { email: "a@x.io", plan: "pro" } },
      { userId: "u2", traits: { email: "nope" } },
    ]);
    assert.equal(fetchImpl.calls[0]!.url, "http://vf.test/api/v1/users/bulk");
    assert.deepEqual(fetchImpl.calls[0]!.body, {
      users: [
        { external_user_id: "u1", email: "a@x.io", traits: { plan: "pro" } },
        { external_user_id: "u2", email: "nope", traits: {} },
      ],
    });
    assert.deepEqual(result, {
      accepted: 1,
      rejected: 1,
      errors: [{ index: 1, code: "validation_failed", message: "bad", field: "email" }],
      received: 2,
    });
  });

  it("refuses 0 or more than 1,000 users (use chunk)", async () => {
    await rejectsBeforeSending((vf) => vf.users.identifyBulk([]), "users");
    const many = Array.from({ length: 1001 }, (_, i) => ({ userId: `u${i}` }));
    await rejectsBeforeSending((vf) => vf.users.identifyBulk(many), "users");
  });
});

describe("the nine typed helpers", () => {
  const cases = [
    ["signedUp", "user_signed_up", { plan: "free", source: "google" }],
    ["trialStarted", "trial_started", { trialDays: 14 }],
    ["featureUsed", "feature_used", { feature: "export", count: 2 }],
    ["onboardingStep", "onboarding_step", { step: "connect_repo", completed: true }],
    ["subscriptionChanged", "subscription_changed", { from: "free", to: "pro", interval: "month", mrr: 4900 }],
    ["subscriptionCancelled", "subscription_cancelled", { reason: "price", effectiveAt: "2025-07-01T00:00:00Z" }],
    ["paymentFailed", "payment_failed", { reason: "card_declined" }],
    ["trialExpiring", "trial_expiring", { daysLeft: 3 }],
    ["userInvited", "user_invited", { invitedEmail: "bob@example.com" }],
  ] as const;

  it("cover every standard event, in order", () => {
    assert.deepEqual(
      cases.map((c) => c[1]),
      [...STANDARD_EVENT_NAMES],
    );
  });

  for (const [helper, name, properties] of cases) {
    it(`${helper} posts ${name} to /api/v1/events`, async () => {
      const { vf, calls } = setup();
      const send = vf.users[helper] as (u: string, p: object, o?: object) => Promise<unknown>;
      const res = await send.call(vf.users, "u1", properties, { timestamp: new Date("2025-01-02T03:04:05Z") });
      assert.deepEqual(res, { accepted: true });
      assert.equal(calls[0]!.url, "http://vf.test/api/v1/events");
      assert.deepEqual(calls[0]!.body, {
        external_user_id: "u1",
        name,
        properties,
        timestamp: "2025-01-02T03:04:05.000Z",
      });
    });
  }

  it("lets optional-only helpers go without properties", async () => {
    const { vf, calls } = setup();
    await vf.users.signedUp("u1");
    await vf.users.paymentFailed("u1");
    assert.deepEqual(calls[0]!.body, { external_user_id: "u1", name: "user_signed_up", properties: {} });
    assert.equal(calls[1]!.body.name, "payment_failed");
  });

  it("throws ValidationError with .field before any request when a required property is missing or mistyped", async () => {
    await rejectsBeforeSending((vf) => vf.users.featureUsed("u1", {} as never), "properties.feature");
    await rejectsBeforeSending((vf) => vf.users.featureUsed("u1", { feature: 5 } as never), "properties.feature");
    await rejectsBeforeSending((vf) => vf.users.featureUsed("u1", { feature: "x", count: "2" } as never), "properties.count");
    await rejectsBeforeSending((vf) => vf.users.onboardingStep("u1", { step: "a", completed: "yes" } as never), "properties.completed");
    await rejectsBeforeSending((vf) => vf.users.subscriptionChanged("u1", { from: "free" } as never), "properties.to");
    await rejectsBeforeSending((vf) => vf.users.subscriptionChanged("u1", { to: "pro", mrr: 49.5 }), "properties.mrr");
    await rejectsBeforeSending((vf) => vf.users.subscriptionCancelled("u1", { effectiveAt: "next week" }), "properties.effectiveAt");
    await rejectsBeforeSending((vf) => vf.users.trialStarted("u1", { trialDays: Number.NaN }), "properties.trialDays");
    await rejectsBeforeSending((vf) => vf.users.trialExpiring("u1", {} as never), "properties.daysLeft");
    await rejectsBeforeSending((vf) => vf.users.userInvited("u1", { invitedEmail: "not-an-email" }), "properties.invitedEmail");
    await rejectsBeforeSending((vf) => vf.users.featureUsed("", { feature: "x" }), "external_user_id");
    await rejectsBeforeSending((vf) => vf.users.featureUsed("u1", { feature: "x" }, { timestamp: "yesterday" }), "timestamp");
  });

  it("accepts the snake_case spelling of a required property (the server treats them as one key)", async () => {
    const { vf, calls } = setup();
    await vf.users.trialExpiring("u1", { days_left: 2 } as never);
    assert.deepEqual(calls[0]!.body.properties, { days_left: 2 });
    await rejectsBeforeSending((vf) => vf.users.trialExpiring("u1", { daysLeft: 1, days_left: 2 }), "properties.days_left");
  });

  it("enforces required properties in the types", () => {
    // Never run: this block only has to type-check (npm run typecheck), proving the compile-time contract.
    const typeOnly = (vf: VibeFollow) => {
      // @ts-expect-error feature is required
      void vf.users.featureUsed("u1", {});
      // @ts-expect-error count must be a number
      void vf.users.featureUsed("u1", { feature: "x", count: "1" });
      // @ts-expect-error to is required
      void vf.users.subscriptionChanged("u1", { from: "a" });
      // @ts-expect-error daysLeft is required
      void vf.users.trialExpiring("u1", {});
      // @ts-expect-error invitedEmail is required
      void vf.users.userInvited("u1", { email: "x@y.z" });
      // @ts-expect-error step is required
      void vf.users.onboardingStep("u1");
      // @ts-expect-error track checks canonical names too
      void vf.events.track("feature_used", "u1", { count: 1 });
      // @ts-expect-error properties are required when the event has required ones
      void vf.events.track("feature_used", "u1");
      // @ts-expect-error the same for a batch
      vf.events.batch().track("feature_used", "u1");
      void vf.events.track("user_signed_up", "u1"); // no required properties: may be left out
      void vf.events.track("anything_custom", "u1", { whatever: [1, 2] });
      void vf.events.track("anything_custom", "u1");
      void vf.users.featureUsed("u1", { feature: "x", extra: { nested: true } });
    };
    assert.equal(typeof typeOnly, "function");
  });
});

describe("events.track", () => {
  it("posts a custom event verbatim, timestamp optional", async () => {
    const { vf, calls } = setup();
    await vf.events.track("report_exported", "u1", { format: "csv", rowCount: 10 });
    await vf.events.track("ping", "u1");
    assert.deepEqual(calls[0]!.body, { external_user_id: "u1", name: "report_exported", properties: { format: "csv", rowCount: 10 } });
    assert.deepEqual(calls[1]!.body, { external_user_id: "u1", name: "ping", properties: {} });
  });

  it("validates canonical names used through track too", async () => {
    await rejectsBeforeSending((vf) => vf.events.track("feature_used", "u1", {} as never), "properties.feature");
  });

  it("refuses reserved and bad names, and non-object properties", async () => {
    await rejectsBeforeSending((vf) => vf.events.track("vf_internal", "u1"), "name");
    await rejectsBeforeSending((vf) => vf.events.track("$identify", "u1"), "name");
    await rejectsBeforeSending((vf) => vf.events.track("", "u1"), "name");
    await rejectsBeforeSending((vf) => vf.events.track("x".repeat(201), "u1"), "name");
    await rejectsBeforeSending((vf) => vf.events.track("ok", "u1", [1] as never), "properties");
    await rejectsBeforeSending((vf) => vf.events.track("ok", "u1", {}, { timestamp: new Date("nope") }), "timestamp");
  });

  it("refuses what the server would refuse: reserved names in any case, deep or polluting properties, BigInts, bad or far-future timestamps", async () => {
    await rejectsBeforeSending((vf) => vf.events.track("VF_x", "u1"), "name");
    await rejectsBeforeSending((vf) => vf.events.track("ok", "u1", { $set: 1 }), "properties.$set");
    await rejectsBeforeSending((vf) => vf.events.track("ok", "u1", { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } }), "properties.a.b.c.d.e.f.g.h");
    await rejectsBeforeSending((vf) => vf.events.track("ok", "u1", JSON.parse('{"x":{"__proto__":{"admin":true}}}')), "properties.x.__proto__");
    await rejectsBeforeSending((vf) => vf.events.track("ok", "u1", { n: 10n }), "properties.n");
    for (const timestamp of ["2025-02-30T00:00:00Z", "2025-06-01T24:00:00Z", "2025-06-01T12:00:00+5", "2025-06-01T12:00:00+24", "March 7", new Date(Date.now() + 25 * 3600_000)]) {
      await rejectsBeforeSending((vf) => vf.events.track("ok", "u1", {}, { timestamp }), "timestamp");
    }
  });

  it("refuses what the server reserves or cannot store: vfScore (vf_score), NaN and Infinity, invalid Dates, year 0000", async () => {
    await rejectsBeforeSending((vf) => vf.events.track("ok", "u1", { vfScore: 1 }), "properties.vfScore");
    await rejectsBeforeSending((vf) => vf.events.track("ok", "u1", { "VF-x": 1 }), "properties.VF-x");
    await rejectsBeforeSending((vf) => vf.events.track("ok", "u1", { n: Number.NaN }), "properties.n");
    await rejectsBeforeSending((vf) => vf.events.track("ok", "u1", { a: [Number.POSITIVE_INFINITY] }), "properties.a[0]");
    // JSON.stringify sends an invalid Date as null: for a trait, that removes what the server stored.
    await rejectsBeforeSending((vf) => vf.users.identify("u1", { signupDate: new Date("not a date") }), "traits.signupDate");
    await rejectsBeforeSending((vf) => vf.events.track("ok", "u1", {}, { timestamp: "0000-06-01T00:00:00Z" }), "timestamp");
    const b = setup().vf.events.batch();
    assert.throws(() => b.track("ok", "u1", { vfScore: 1 }), (e: unknown) => e instanceof ValidationError && e.field === "properties.vfScore");
  });

  it("takes null for an optional canonical property, as the server does (null counts as absent)", async () => {
    const { vf, calls } = setup();
    await vf.users.signedUp("u1", { plan: null, source: null });
    await vf.users.subscriptionChanged("u1", { to: "pro", mrr: null, interval: null });
    assert.equal(calls.length, 2);
  });

  it("takes what the server takes: 256 emoji as an id, zone-less and minute-only times, an hours-only zone, 8 levels deep", async () => {
    const { vf, calls } = setup();
    await vf.events.track("🎉".repeat(200), "😀".repeat(256), { a: { b: { c: { d: { e: { f: { g: { h: 1 } } } } } } } });
    for (const timestamp of ["2025-06-01T12:00", "2025-06-01 12:00:30", "2025-06-01T12:00:00.123456+02:00", "2025-06-01", "0050-01-01T00:00:00Z", "2025-06-01T12:00:00+05"]) {
      await vf.events.track("ok", "u1", {}, { timestamp });
    }
    assert.equal(calls.length, 7);
  });
});

describe("events.bulk", () => {
  it("posts to /events/bulk in wire shape and returns per-record results", async () => {
    const fetchImpl = fakeFetch(json(200, { data: { accepted: 2, rejected: 0, errors: [] }, meta: { received: 2 } }));
    const vf = new VibeFollow({ apiKey: "k", baseUrl: "http://vf.test", fetchImpl });
    const result = await vf.events.bulk([
      { name: "feature_used", userId: "u1", properties: { feature: "a" }, timestamp: new Date("2024-05-01T00:00:00Z") },
      { name: "custom", userId: "u2" },
    ]);
    assert.equal(fetchImpl.calls[0]!.url, "http://vf.test/api/v1/events/bulk");
    assert.deepEqual(fetchImpl.calls[0]!.body, {
      events: [
        { external_user_id: "u1", name: "feature_used", properties: { feature: "a" }, timestamp: "2024-05-01T00:00:00.000Z" },
        { external_user_id: "u2", name: "custom", properties: {} },
      ],
    });
    assert.deepEqual(result, { accepted: 2, rejected: 0, errors: [], received: 2 });
  });

  it("leaves a bad record to the server's per-record errors instead of failing the whole call", async () => {
    const fetchImpl = fakeFetch(json(200, { data: { accepted: 1, rejected: 1, errors: [{ index: 1, code: "validation_failed", message: "x", field: "timestamp" }] }, meta: { received: 2 } }));
    const vf = new VibeFollow({ apiKey: "k", baseUrl: "http://vf.test", fetchImpl });
    const result = await vf.events.bulk([{ name: "ok", userId: "u1" }, { name: "ok", userId: "u2", timestamp: "not a time" }]);
    assert.equal(fetchImpl.calls[0]!.body.events[1].timestamp, "not a time");
    assert.deepEqual([result.accepted, result.rejected], [1, 1]);
  });

  it("refuses 0 or more than 1,000 events", async () => {
    await rejectsBeforeSending((vf) => vf.events.bulk([]), "events");
    const many = Array.from({ length: 1001 }, () => ({ name: "x", userId: "u" }));
    await rejectsBeforeSending((vf) => vf.events.bulk(many), "events");
  });
});

describe("chunk", () => {
  it("splits into slices of at most size, keeping order", () => {
    assert.deepEqual(chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
    assert.deepEqual(chunk([], 3), []);
    assert.equal(chunk(Array.from({ length: 2500 }), 1000).map((c) => c.length).join(","), "1000,1000,500");
    assert.throws(() => chunk([1], 0), RangeError);
    assert.throws(() => chunk([1], 1.5), RangeError);
  });
});
