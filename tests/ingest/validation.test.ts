import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { manualClock, setClock, systemClock } from "../../src/lib/clock";
import { startTestServer, type TestServer } from "../support/harness";
import { post } from "./support";

// SPEC §3 validation and §4's canonical events: every refusal is 422 validation_failed with the field path.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer("", { background: false });
});
afterAll(() => server.close());
afterEach(() => setClock(systemClock));

const track = (body: unknown) => post(server, "/api/v1/events", body);
const identify = (body: unknown) => post(server, "/api/v1/users", body);

async function expect422(res: Promise<{ status: number; json: any }>, field: string) {
  const r = await res;
  expect(r.status).toBe(422);
  expect(r.json.errors.map((e: any) => e.field)).toContain(field);
  for (const e of r.json.errors) expect(e.code).toBe("validation_failed");
  return r;
}

test("external_user_id: a non-empty string of at most 256 characters", async () => {
  await expect422(track({ name: "x" }), "external_user_id");
  await expect422(track({ external_user_id: "", name: "x" }), "external_user_id");
  await expect422(track({ external_user_id: 12, name: "x" }), "external_user_id");
  await expect422(track({ external_user_id: "u".repeat(257), name: "x" }), "external_user_id");
  expect((await track({ external_user_id: "u".repeat(256), name: "x" })).status).toBe(202);
  await expect422(identify({ external_user_id: null }), "external_user_id");
  expect((await identify({ external_user_id: "ü".repeat(256) })).status).toBe(202);
});

test("name: a non-empty string of at most 200 characters, not reserved", async () => {
  await expect422(track({ external_user_id: "u" }), "name");
  await expect422(track({ external_user_id: "u", name: "" }), "name");
  await expect422(track({ external_user_id: "u", name: ["x"] }), "name");
  await expect422(track({ external_user_id: "u", name: "n".repeat(201) }), "name");
  expect((await track({ external_user_id: "u", name: "n".repeat(200) })).status).toBe(202);
  for (const reserved of ["vf_internal", "VF_x", "$pageview", "$"]) await expect422(track({ external_user_id: "u", name: reserved }), "name");
  for (const fine of ["vfx", "my_vf_event", "pay$"]) expect((await track({ external_user_id: "u", name: fine })).status).toBe(202);
});

test("reserved property and trait keys: `$…` and `vf_…` in either spelling, at the top level", async () => {
  await expect422(track({ external_user_id: "u", name: "x", properties: { $browser: "x" } }), "properties.$browser");
  await expect422(track({ external_user_id: "u", name: "x", properties: { vf_score: 1 } }), "properties.vf_score");
  await expect422(track({ external_user_id: "u", name: "x", properties: { vfScore: 1 } }), "properties.vfScore");
  await expect422(identify({ external_user_id: "u", traits: { vf_stage: "x" } }), "traits.vf_stage");
  // Nested keys are plain data; `vfx`-like keys are not reserved.
  expect((await track({ external_user_id: "u", name: "x", properties: { meta: { $ref: 1, vf_x: 2 }, vfx: 1, very: 2 } })).status).toBe(202);
});

test("properties and traits must be JSON objects (null counts as absent)", async () => {
  await expect422(track({ external_user_id: "u", name: "x", properties: [1, 2] }), "properties");
  await expect422(track({ external_user_id: "u", name: "x", properties: "a=b" }), "properties");
  await expect422(identify({ external_user_id: "u", traits: 5 }), "traits");
  expect((await track({ external_user_id: "u", name: "x", properties: null })).status).toBe(202);
  expect((await identify({ external_user_id: "u", traits: null })).status).toBe(202);
});

test("depth: properties nested 8 levels are fine, 9 are refused", async () => {
  const nest = (levels: number): Record<string, unknown> => (levels === 1 ? { leaf: 1 } : { n: nest(levels - 1) });
  expect((await track({ external_user_id: "u", name: "x", properties: nest(8) })).status).toBe(202);
  await expect422(track({ external_user_id: "u", name: "x", properties: nest(9) }), "properties.n.n.n.n.n.n.n.n");
  // Arrays count as a level too.
  expect((await identify({ external_user_id: "u", traits: { a: [[[[[[[1]]]]]]] } })).status).toBe(202);
  await expect422(identify({ external_user_id: "u", traits: { a: [[[[[[[{}]]]]]]] } }), "traits.a[0][0][0][0][0][0][0]");
});

test("numbers beyond JSON's range (1e400) are refused, not stored as null", async () => {
  const raw = (path: string, text: string) => post(server, path, text);
  await expect422(raw("/api/v1/events", '{"external_user_id":"u","name":"x","properties":{"big":1e400}}'), "properties.big");
  await expect422(raw("/api/v1/users", '{"external_user_id":"u","traits":{"a":[1,-1e999]}}'), "traits.a[1]");
  expect((await raw("/api/v1/events", '{"external_user_id":"u","name":"x","properties":{"big":1.7e308}}')).status).toBe(202);
  // In a canonical number it is one problem, reported once.
  const canonical = await raw("/api/v1/events", '{"external_user_id":"u","name":"trial_started","properties":{"trialDays":1e999}}');
  expect(canonical.json.errors.map((e: { field: string }) => e.field)).toEqual(["properties.trialDays"]);
});

test("traits.email (any spelling) must be an address too, unless a top-level email stands in for it", async () => {
  await expect422(identify({ external_user_id: "u", traits: { email: "garbage" } }), "traits.email");
  await expect422(identify({ external_user_id: "u", traits: { Email: 7 } }), "traits.Email");
  await expect422(identify({ external_user_id: "u", traits: { email: "" } }), "traits.email");
  expect((await identify({ external_user_id: "u", traits: { email: "ok@example.com" } })).status).toBe(202);
  expect((await identify({ external_user_id: "u", traits: { email: null } })).status).toBe(202);
  // The top-level email wins (SPEC §5.1), so what traits.email holds does not matter.
  expect((await identify({ external_user_id: "u", email: "ok@example.com", traits: { email: "garbage" } })).status).toBe(202);
});

test("email: an address, or null (not given)", async () => {
  await expect422(identify({ external_user_id: "u", email: "nope" }), "email");
  await expect422(identify({ external_user_id: "u", email: 7 }), "email");
  await expect422(identify({ external_user_id: "u", email: `${"a".repeat(320)}@example.com` }), "email");
  expect((await identify({ external_user_id: "u", email: "first.last+tag@sub.example.co" })).status).toBe(202);
  expect((await identify({ external_user_id: "u", email: null })).status).toBe(202);
});

test("timestamp: ISO 8601 (a date, or a date-time with a zone or without one: UTC), at most 24 h in the future by now()", async () => {
  const t0 = Date.parse("2026-05-01T12:00:00Z");
  setClock(manualClock(t0));
  const at = (timestamp: unknown) => track({ external_user_id: "u", name: "x", timestamp });
  for (const ok of ["2026-05-01T12:00:00Z", "2026-05-02T11:59:00Z", "2026-05-01T14:00:00.123+02:00", "2020-02-29", "2026-05-01t12:00:00z", "2026-05-01T12:00Z", "2026-05-01T12:00:00", "2026-05-02T11:59:59.999999", "2026-05-01 12:00:00+00:00", "2026-05-01T12:00", "2026-05-01 12:00"]) {
    expect({ ok, status: (await at(ok)).status }).toEqual({ ok, status: 202 });
  }
  // Without a zone, UTC: one second past now + 24 h is refused as in the future.
  for (const bad of ["2026-05-02T12:00:01Z", "2026-05-02T12:00:01", "2026-05-03", "yesterday", "2026-05-01T12:00:00 ", "2026-02-30T00:00:00Z", "2026-13-01", 1714564800000, "", "2026-05-01T25:00:00Z"]) {
    const r = await at(bad);
    expect({ bad, status: r.status, field: r.json.errors?.[0]?.field }).toEqual({ bad, status: 422, field: "timestamp" });
  }
});

test("timestamp: a zone of hours alone (`+02`, ISO 8601's ±hh) is read as that offset", async () => {
  setClock(manualClock(Date.parse("2026-05-01T12:00:00Z")));
  const at = (timestamp: unknown) => track({ external_user_id: "u", name: "x", timestamp });
  // 11:59 UTC tomorrow is within 24 h, 12:00:01 UTC is not: the offset was applied, not ignored.
  for (const ok of ["2026-05-02T13:59:00+02", "2026-05-02T06:59-05", "2026-05-01T12:00:00.5+00"]) {
    expect({ ok, status: (await at(ok)).status }).toEqual({ ok, status: 202 });
  }
  for (const bad of ["2026-05-02T14:00:01+02", "2026-05-02T12:00:00+2", "2026-05-02T12:00:00+02:", "2026-05-02T12:00:00+24", "2026-05-02+02"]) {
    const r = await at(bad);
    expect({ bad, status: r.status, field: r.json.errors?.[0]?.field }).toEqual({ bad, status: 422, field: "timestamp" });
  }
});

test("canonical events: required properties in any spelling, with the right types", async () => {
  const ev = (name: string, properties?: unknown) => track({ external_user_id: "u", name, properties });
  const good: [string, Record<string, unknown> | undefined][] = [
    ["user_signed_up", undefined],
    ["user_signed_up", { plan: "pro", source: "ads" }],
    ["trial_started", { trialDays: 14 }],
    ["trial_started", { trial_days: 14 }],
    ["feature_used", { feature: "export" }],
    ["feature_used", { feature: "export", count: 3 }],
    ["onboarding_step", { step: "invite", completed: true }],
    ["subscription_changed", { to: "pro", from: "free", interval: "month", mrr: 4900 }],
    ["subscription_cancelled", { reason: "price", effectiveAt: "2026-06-01T00:00:00Z" }],
    ["subscription_cancelled", { effective_at: "2026-06-01" }],
    ["payment_failed", { reason: "card_declined" }],
    ["trial_expiring", { daysLeft: 3 }],
    ["trial_expiring", { days_left: 0 }],
    ["user_invited", { invitedEmail: "bo@example.com" }],
    ["user_invited", { invited_email: "bo@example.com" }],
    // Any spelling the normaliser folds into the canonical key counts (SPEC §3: `workspaceId` ≡ `workspace_id`).
    ["feature_used", { Feature: "export" }],
    ["trial_started", { TrialDays: 14 }],
  ];
  for (const [name, props] of good) expect({ name, props, status: (await ev(name, props)).status }).toEqual({ name, props, status: 202 });
  const bad: [string, unknown, string][] = [
    ["user_signed_up", { plan: 3 }, "properties.plan"],
    ["trial_started", { trialDays: "14" }, "properties.trialDays"],
    ["trial_started", { trial_days: null, trialDays: "x" }, "properties.trialDays"],
    ["feature_used", {}, "properties.feature"],
    ["feature_used", undefined, "properties.feature"],
    ["feature_used", { feature: 1 }, "properties.feature"],
    ["feature_used", { feature: "x", count: "2" }, "properties.count"],
    ["onboarding_step", { completed: true }, "properties.step"],
    ["onboarding_step", { step: "a", completed: "yes" }, "properties.completed"],
    ["subscription_changed", { from: "free" }, "properties.to"],
    ["subscription_changed", { to: "pro", mrr: 49.5 }, "properties.mrr"],
    ["subscription_cancelled", { effectiveAt: "soon" }, "properties.effectiveAt"],
    ["payment_failed", { reason: false }, "properties.reason"],
    ["trial_expiring", {}, "properties.daysLeft"],
    ["trial_expiring", { days_left: "3" }, "properties.days_left"],
    ["user_invited", { invitedEmail: "nope" }, "properties.invitedEmail"],
    ["user_invited", {}, "properties.invitedEmail"],
    // …and is checked: a wrong type under another spelling would pass the API only to be quarantined.
    ["subscription_changed", { to: "pro", MRR: 19.99 }, "properties.MRR"],
    ["trial_started", { TrialDays: "14" }, "properties.TrialDays"],
    ["trial_started", { "trial-days": "14" }, "properties.trial-days"],
    ["user_invited", { InvitedEmail: "nope" }, "properties.InvitedEmail"],
  ];
  for (const [name, props, field] of bad) {
    const r = await ev(name, props);
    expect({ name, props, status: r.status, fields: r.json.errors.map((e: any) => e.field) }).toEqual({ name, props, status: 422, fields: [field] });
  }
  // The message names each spelling once.
  expect((await ev("feature_used", {})).json.errors[0].message).toBe('Required for this event (as "feature").');
  expect((await ev("trial_expiring", {})).json.errors[0].message).toBe('Required for this event (as "daysLeft" or "days_left").');
  // A custom event is accepted as-is.
  expect((await ev("Trial Started", { trialDays: "fourteen" })).status).toBe(202);
});

test("several problems are reported together, each with its field", async () => {
  const r = await track({ external_user_id: "", name: "$x", properties: { $a: 1 }, timestamp: "nope" });
  expect(r.status).toBe(422);
  expect(r.json.errors.map((e: any) => e.field).sort()).toEqual(["external_user_id", "name", "properties.$a", "timestamp"]);
  for (const e of r.json.errors) expect(Object.keys(e).sort()).toEqual(["code", "field", "message"]);
});
