import { afterAll, beforeAll, expect, test } from "bun:test";
import type { TestServer } from "../support/harness";
import { count, drain, enqueue, identify, rows, startPipelineServer, track, userRow } from "./support";

let server: TestServer;
beforeAll(async () => {
  server = await startPipelineServer();
  await enqueue(server.ctx.database, [identify("u1"), identify("u2"), identify("u3")]);
  await drain(server);
});
afterAll(() => server.close());

const eventsOf = (ext: string) =>
  rows(server.ctx.database, "SELECT e.* FROM events e JOIN tracked_users u ON u.id = e.user_id WHERE u.external_user_id = ? ORDER BY e.id", [ext]);

test("an event through the API is stored with its payload verbatim and snake_case properties", async () => {
  const body = { external_user_id: "u1", name: "report_exported", properties: { workspaceId: "w1", fileFormat: "csv", nested: { innerKey: 1 } }, timestamp: "2026-05-01T12:00:00Z" };
  const res = await server.api("/api/v1/events", { body });
  expect(res.status).toBe(202);
  await drain(server);
  const [e] = await eventsOf("u1");
  expect(JSON.parse(e!.payload)).toEqual(body);
  expect(JSON.parse(e!.properties)).toEqual({ workspace_id: "w1", file_format: "csv", nested: { innerKey: 1 } });
  expect(e!.occurred_at).toBe(Date.parse("2026-05-01T12:00:00Z"));
  expect(e!.name).toBe("report_exported");
});

test("years 0001–0099 are stored as themselves, not as 1901–1999 (Date.UTC's two-digit years)", async () => {
  await enqueue(server.ctx.database, [identify("u-ancient")]);
  for (const timestamp of ["0050-01-01T00:00:00Z", "0099-12-31", "0001-01-01T00:00:00Z"]) {
    expect((await server.api("/api/v1/events", { body: { external_user_id: "u-ancient", name: `ancient_${timestamp}`, timestamp } })).status).toBe(202);
  }
  await drain(server);
  const stored = await rows(server.ctx.database, "SELECT name, occurred_at FROM events WHERE name LIKE 'ancient_%' ORDER BY name");
  expect(stored.map((e) => new Date(Number(e.occurred_at)).toISOString())).toEqual(["0001-01-01T00:00:00.000Z", "0050-01-01T00:00:00.000Z", "0099-12-31T00:00:00.000Z"]);
  // Year 0000 is outside what is stored (0001–9999): refused by the API.
  expect((await server.api("/api/v1/events", { body: { external_user_id: "u-ancient", name: "x", timestamp: "0000-06-01T00:00:00Z" } })).status).toBe(422);
});

test("through the API, unknown top-level fields, key order and nulls reach the stored payload as sent", async () => {
  const body = { name: "report_exported", x_extra: [1, { deep: true }], external_user_id: "u1", properties: null, timestamp: null, note: "keep me" };
  expect((await server.api("/api/v1/events", { body })).status).toBe(202);
  await drain(server);
  const e = (await eventsOf("u1")).at(-1)!;
  expect(e.name).toBe("report_exported");
  expect(Object.keys(JSON.parse(e.payload))).toEqual(Object.keys(body));
  expect(JSON.parse(e.payload)).toEqual(body);
  expect(JSON.parse(e.properties)).toEqual({});
});

test("ids and names are counted in characters, not UTF-16 units, by the API and the normaliser alike", async () => {
  const id = "😀".repeat(256); // 256 characters, 512 UTF-16 units
  const name = "🎉".repeat(200);
  expect((await server.api("/api/v1/users", { body: { external_user_id: id } })).status).toBe(202);
  expect((await server.api("/api/v1/events", { body: { external_user_id: id, name } })).status).toBe(202);
  expect((await server.api("/api/v1/events", { body: { external_user_id: id + "😀", name } })).status).toBe(422);
  await drain(server);
  expect(await count(server.ctx.database, "SELECT count(*) AS n FROM quarantine")).toBe(0);
  const [e] = await eventsOf(id);
  expect(e!.name).toBe(name);
});

test("the payload text is kept byte for byte (spacing, key order, unicode escapes)", async () => {
  const text = '{ "name":"clicked" ,"external_user_id":"u2", "properties":{"label":"caf\\u00e9"} }';
  await enqueue(server.ctx.database, [{ kind: "track", payload: text, receivedAt: 1_780_000_000_000 }]);
  await drain(server);
  const [e] = await eventsOf("u2");
  expect(e!.payload).toBe(text);
  expect(e!.occurred_at).toBe(1_780_000_000_000); // no timestamp: the receive time
  expect(e!.received_at).toBe(1_780_000_000_000);
  expect(JSON.parse(e!.properties)).toEqual({ label: "café" });
});

test("through every ingest endpoint, an event's payload is the text the client sent, byte for byte", async () => {
  // What a re-serialisation would change: spacing, `1.0`, `1e2`, `\u00e9`, `\/`, a key given twice.
  await enqueue(server.ctx.database, [identify("u-verbatim")]);
  await drain(server);
  const item = (name: string) => `{ "external_user_id" : "u-verbatim",\n  "name":"${name}", "properties": {"n": 1.0, "e": 1e2, "s":"caf\\u00e9 \\/", "d": 1, "d": 2} }`;
  expect((await server.api("/api/v1/events", { body: item("verbatim_single") })).status).toBe(202);
  const batch = `{"events": [ ${item("verbatim_batch_0")} ,${item("verbatim_batch_1")}], "events_note": {"x": [1, 2]} }`;
  expect((await server.api("/api/v1/events/batch", { body: batch })).status).toBe(202);
  const bulk = `{ "meta": "first", "events" :[${item("verbatim_bulk_0")},\n${item("verbatim_bulk_1")}  ]}`;
  expect((await server.api("/api/v1/events/bulk", { body: bulk })).status).toBe(200);
  await drain(server);
  const stored = (await eventsOf("u-verbatim")).filter((e) => e.name.startsWith("verbatim_"));
  expect(stored.map((e) => e.name)).toEqual(["verbatim_single", "verbatim_batch_0", "verbatim_batch_1", "verbatim_bulk_0", "verbatim_bulk_1"]);
  for (const e of stored) expect(e.payload).toBe(item(e.name));
  expect(JSON.parse(stored[0]!.properties)).toEqual({ n: 1, e: 100, s: "café /", d: 2 }); // the last of a repeated key, as validated
});

test("stored properties are exactly JSON.stringify of the normalised properties (numbers, escapes, odd keys)", async () => {
  const text =
    '{"external_user_id":"u_odd","name":"odd_values","properties":{"big":1e21,"small":1.5e-7,"tenth":0.1,"negZero":-0,"huge":12345678901234567890,' +
    '"quote":"say \\"hi\\" \\\\ \\n","emoji":"\\ud83d\\ude00 ✓","__proto__":{"x":1},"list":[1,"a",null,{"k":[]}],"empty":{},"nil":null}}';
  await enqueue(server.ctx.database, [identify("u_odd"), { kind: "track", payload: text, receivedAt: 1_780_000_000_000 }]);
  await drain(server);
  const [e] = await eventsOf("u_odd");
  const sent = JSON.parse(text).properties as Record<string, unknown>;
  const expected: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(sent)) expected[k === "negZero" ? "neg_zero" : k] = v;
  expect(e!.properties).toBe(JSON.stringify(expected));
  expect(e!.payload).toBe(text);
});

test("ambiguous keys, wrong canonical types, bad shapes and bad timestamps go to quarantine with their reason", async () => {
  const db = server.ctx.database;
  const cases: [string, string][] = [
    ['{"external_user_id":"u3","name":"x","properties":{"workspaceId":"a","workspace_id":"b"}}', "ambiguous_key"],
    ['{"external_user_id":"u3","name":"trial_started","properties":{"trialDays":"fourteen"}}', "invalid_property"],
    ['{"external_user_id":"u3","name":"subscription_changed","properties":{"to":"pro","mrr":12.5}}', "invalid_property"],
    ['{"external_user_id":"u3","name":"feature_used","properties":{}}', "invalid_property"],
    ['{"external_user_id":"u3","name":"trial_expiring","properties":{"daysLeft":1e300}}', "invalid_property"],
    ['{"external_user_id":"u3","name":"x","timestamp":"yesterday"}', "invalid_timestamp"],
    ['{"external_user_id":"u3"}', "invalid_payload"],
    ['{"external_user_id":"u3","name":"x","properties":[1]}', "invalid_payload"],
    ["not json at all", "invalid_payload"],
    ['{"external_user_id":"","name":"x"}', "invalid_payload"],
  ];
  await enqueue(db, cases.map(([payload]) => ({ kind: "track" as const, payload, source: "segment" })));
  await enqueue(db, [{ kind: "track", payload: '{"external_user_id":"u3","name":"x"}', projectId: "gone" }]);
  const before = await count(db, "SELECT count(*) AS n FROM quarantine");
  await drain(server);
  const q = await rows(db, "SELECT reason, payload, source, kind, state FROM quarantine ORDER BY rowid LIMIT -1 OFFSET ?", [before]);
  expect(q.map((r) => [r.payload, r.reason])).toEqual([...cases, ['{"external_user_id":"u3","name":"x"}', "unknown_project"]]);
  expect(q.every((r) => r.kind === "track" && r.state === "open")).toBe(true);
  expect(q[0]!.source).toBe("segment");
  expect(await eventsOf("u3")).toEqual([]);
});

test("equal values under two spellings merge; camelCase canonical properties drive derived state", async () => {
  await enqueue(server.ctx.database, [track("u3", "feature_used", { properties: { feature: "export", count: 2, someKey: 1, some_key: 1 } })]);
  await drain(server);
  const [e] = await eventsOf("u3");
  expect(JSON.parse(e!.properties)).toEqual({ feature: "export", count: 2, some_key: 1 });
});

test("bulk events dedupe naturally on (user, name, occurred_at); api events do not", async () => {
  const db = server.ctx.database;
  const ts = "2026-04-01T00:00:00Z";
  await enqueue(db, [
    track("u2", "imported", { timestamp: ts, properties: { n: 1 } }, { source: "bulk" }),
    track("u2", "imported", { timestamp: ts, properties: { n: 2 } }, { source: "bulk" }),
  ]);
  const first = await drain(server);
  expect(first.applied).toBe(1);
  expect(first.duplicates).toBe(1);
  // Across batches too, against events already stored.
  await enqueue(db, [
    track("u2", "imported", { timestamp: ts }, { source: "bulk" }),
    track("u2", "imported", { timestamp: "2026-04-02T00:00:00Z" }, { source: "bulk" }),
    track("u2", "imported", { timestamp: ts }, { source: "api" }),
  ]);
  const second = await drain(server);
  expect(second.duplicates).toBe(1);
  const stored = (await eventsOf("u2")).filter((e) => e.name === "imported");
  expect(stored.map((e) => e.occurred_at)).toEqual([Date.parse(ts), Date.parse("2026-04-02T00:00:00Z"), Date.parse(ts)]);
  expect(JSON.parse(stored[0]!.properties)).toEqual({ n: 1 });
});

test("counters and seen times: last_seen_at never moves backwards, first_seen_at takes the earliest", async () => {
  const db = server.ctx.database;
  await enqueue(db, [
    identify("u-times", {}, { receivedAt: Date.parse("2026-06-10T00:00:00Z") }),
    track("u-times", "a", { timestamp: "2026-06-05T00:00:00Z" }),
    track("u-times", "b", { timestamp: "2026-06-01T00:00:00Z" }),
    track("u-times", "c", { timestamp: "2026-06-03T00:00:00Z" }),
  ]);
  await drain(server);
  const u = (await userRow(db, "u-times"))!;
  expect(u.last_seen_at).toBe(Date.parse("2026-06-05T00:00:00Z"));
  expect(u.first_seen_at).toBe(Date.parse("2026-06-01T00:00:00Z"));
  expect(u.event_count).toBe(3);
});
