import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ApiError } from "../../src/lib/errors";
import { countQuarantine, discardQuarantine, listQuarantine, replayQuarantine, showQuarantine } from "../../src/pipeline";
import type { TestServer } from "../support/harness";
import { CONFIG, count, drain, enqueue, identify, rows, startPipelineServer, track, userRow } from "./support";

let server: TestServer;
let configPath: string;
beforeAll(async () => {
  server = await startPipelineServer();
  configPath = join(server.dir, "cli.toml");
  writeFileSync(configPath, `[database]\nurl = "file:${join(server.dir, "vf.db")}"\n${CONFIG}`);
  await enqueue(server.ctx.database, [identify("q-user")]);
  await drain(server);
});
afterAll(() => server.close());

async function quarantineOne(payload: string, kind: "track" | "identify" = "track"): Promise<string> {
  await enqueue(server.ctx.database, [{ kind, payload, source: "bulk" }]);
  await drain(server);
  const [row] = await rows(server.ctx.database, "SELECT id FROM quarantine WHERE payload = ? ORDER BY rowid DESC LIMIT 1", [payload]);
  return row!.id;
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(["node_modules/.bin/bun", "src/cli/index.ts", "quarantine", ...args, "--config", configPath], {
    stdout: "pipe",
    stderr: "pipe",
    stdin: "pipe",
    env: { ...process.env, VIBEFOLLOW_LOG: "silent" },
  });
  return { code: await proc.exited, stdout: await new Response(proc.stdout).text(), stderr: await new Response(proc.stderr).text() };
}

test("list and show: reason, detail, payload verbatim, open state", async () => {
  const payload = '{"external_user_id":"q-user","name":"x","properties":{"planId":1,"plan_id":2}}';
  const id = await quarantineOne(payload);
  expect(id).toStartWith("qtn_");
  const item = (await showQuarantine(server.ctx.database, id))!;
  expect(item).toMatchObject({ id, projectId: "acme", reason: "ambiguous_key", kind: "track", source: "bulk", payload, state: "open", externalUserId: "q-user", eventName: "x" });
  expect(item.detail).toContain("plan_id");
  const { items, total } = await listQuarantine(server.ctx.database, { projectId: "acme", reason: "ambiguous_key" });
  expect(items.map((i) => i.id)).toContain(id);
  expect(total).toBeGreaterThanOrEqual(1);
  expect(await countQuarantine(server.ctx.database, "acme")).toBeGreaterThanOrEqual(1);
});

test("replay with an edited payload re-applies it; the record is marked replayed and keeps the original", async () => {
  const db = server.ctx.database;
  const original = '{"external_user_id":"q-user","name":"trial_started","properties":{"trialDays":"ten"}}';
  const id = await quarantineOne(original);
  const edited = '{"external_user_id":"q-user","name":"trial_started","properties":{"trialDays":10},"timestamp":"2026-01-01T00:00:00Z"}';
  const { seq } = await replayQuarantine(db, id, edited);
  expect(await rows(db, "SELECT source, payload, kind FROM ingest_queue WHERE seq = ?", [seq])).toEqual([{ source: "bulk", payload: edited, kind: "track" }]);
  expect((await showQuarantine(db, id))!).toMatchObject({ state: "replayed", payload: original });
  await drain(server);
  const u = (await userRow(db, "q-user"))!;
  expect(u.stage).toBe("trialing");
  expect(u.trial_ends_at).toBe(Date.parse("2026-01-01T00:00:00Z") + 10 * 86_400_000);
  // Only open items can be replayed or discarded.
  await expect(replayQuarantine(db, id)).rejects.toBeInstanceOf(ApiError);
  await expect(discardQuarantine(db, id)).rejects.toMatchObject({ status: 409 });
  await expect(replayQuarantine(db, "qtn_nope")).rejects.toMatchObject({ status: 404 });
});

test("replay without edit of an unknown_user item applies once the user exists; a bad edit is refused", async () => {
  const db = server.ctx.database;
  const payload = '{"external_user_id":"q-later","name":"clicked"}';
  await db.execute({
    sql: "INSERT INTO quarantine (id, project_id, reason, detail, kind, source, payload, received_at, state, created_at, updated_at) VALUES ('qtn_manual1', 'acme', 'unknown_user', 'x', 'track', 'api', ?, 5, 'open', 1, 1)",
    args: [payload],
  });
  await expect(replayQuarantine(db, "qtn_manual1", "{not json")).rejects.toMatchObject({ status: 422 });
  await expect(replayQuarantine(db, "qtn_manual1", "[1,2]")).rejects.toMatchObject({ status: 422 });
  expect((await showQuarantine(db, "qtn_manual1"))!.state).toBe("open");
  await enqueue(db, [identify("q-later")]);
  await drain(server);
  await replayQuarantine(db, "qtn_manual1");
  await drain(server);
  const u = (await userRow(db, "q-later"))!;
  expect(await rows(db, "SELECT name, occurred_at, payload FROM events WHERE user_id = ?", [u.id])).toEqual([{ name: "clicked", occurred_at: 5, payload }]);
});

test("a replayed bulk import keeps its source: duplicates are still dropped and old signups are still a backfill", async () => {
  // The usual way in: events imported in bulk before their users, quarantined after buffer_ttl, replayed once
  // the users exist.
  const db = server.ctx.database;
  const old = "2026-01-01T00:00:00.000Z";
  const items = [
    track("q-import", "user_signed_up", { timestamp: old, properties: { plan: "free", source: "import" } }, { source: "bulk" }),
    track("q-import", "clicked", { timestamp: old }, { source: "bulk" }),
    track("q-import", "clicked", { timestamp: old }, { source: "bulk" }),
  ];
  const ids: string[] = [];
  for (const [i, item] of items.entries()) {
    ids.push(`qtn_import${i}`);
    await db.execute({
      sql: "INSERT INTO quarantine (id, project_id, reason, detail, kind, source, payload, received_at, state, created_at, updated_at) VALUES (?, 'acme', 'unknown_user', 'x', 'track', 'bulk', ?, ?, 'open', 1, 1)",
      args: [ids[i]!, JSON.stringify(item.payload), Date.now()],
    });
  }
  await enqueue(db, [identify("q-import")]);
  await drain(server);
  for (const id of ids) expect((await replayQuarantine(db, id)).id).toBe(id);
  await drain(server);
  const u = (await userRow(db, "q-import"))!;
  expect(await rows(db, "SELECT name FROM events WHERE user_id = ? ORDER BY id", [u.id])).toEqual([{ name: "user_signed_up" }, { name: "clicked" }]);
  expect(u.backfilled).toBe(1);
});

test("discard keeps the record, marked discarded, out of the open list", async () => {
  const db = server.ctx.database;
  const id = await quarantineOne('{"external_user_id":"q-user","name":"x","timestamp":"soon"}');
  await discardQuarantine(db, id);
  expect((await showQuarantine(db, id))!.state).toBe("discarded");
  expect((await listQuarantine(db)).items.map((i) => i.id)).not.toContain(id);
  expect((await listQuarantine(db, { state: "discarded" })).items.map((i) => i.id)).toContain(id);
});

test("CLI: list, show, replay with --payload FILE and -, discard", async () => {
  const db = server.ctx.database;
  const a = await quarantineOne('{"external_user_id":"q-cli","traits":{"signup_date":"someday"}}', "identify");
  const b = await quarantineOne('{"external_user_id":"q-user","name":"feature_used","properties":{}}');
  const c = await quarantineOne('{"external_user_id":"q-user","name":"y","timestamp":"later"}');

  const list = await cli("list", "--json");
  expect(list.code).toBe(0);
  const listed = JSON.parse(list.stdout) as { items: { id: string; reason: string }[] };
  expect(listed.items.find((i) => i.id === a)!.reason).toBe("invalid_trait");
  const text = await cli("list", "--reason", "invalid_property");
  expect(text.stdout).toContain(b);
  expect(text.stdout).not.toContain(a);
  const typo = await cli("list", "--reason", "invalid_propety");
  expect([typo.code, typo.stdout]).toEqual([2, ""]);
  expect(typo.stderr).toContain("--reason must be one of invalid_payload, invalid_timestamp,");

  const show = await cli("show", a);
  expect(show.code).toBe(0);
  expect(show.stdout).toContain('payload:  {"external_user_id":"q-cli","traits":{"signup_date":"someday"}}');
  expect(show.stdout).toContain("invalid_trait");

  const file = join(server.dir, "edited.json");
  writeFileSync(file, '{"external_user_id":"q-cli","traits":{"signup_date":"2026-02-01"}}');
  const replayed = await cli("replay", a, "--payload", file);
  expect(replayed.code).toBe(0);
  expect(replayed.stdout).toContain(`replayed ${a}`);

  const proc = Bun.spawn(["node_modules/.bin/bun", "src/cli/index.ts", "quarantine", "replay", b, "--payload", "-", "--config", configPath], {
    stdin: new Blob(['{"external_user_id":"q-user","name":"feature_used","properties":{"feature":"cli"}}']),
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(await proc.exited).toBe(0);

  expect((await cli("discard", c)).code).toBe(0);
  const again = await cli("discard", c);
  expect(again.code).toBe(1);
  expect(again.stderr).toContain("already discarded");
  expect((await cli("show", "qtn_missing")).code).toBe(1);
  expect((await cli("frobnicate", "x")).code).toBe(2);

  await drain(server);
  expect((await userRow(db, "q-cli"))!.signup_date).toBe(Date.parse("2026-02-01"));
  expect(await count(db, "SELECT count(*) AS n FROM feature_usage WHERE feature = 'cli'")).toBe(1);
  expect((await showQuarantine(db, c))!.state).toBe("discarded");
}, 60_000);

test("an item with a lone UTF-16 surrogate anywhere is quarantined whole, never stored as invalid UTF-8", async () => {
  // The API refuses these (400); a replayed or Segment item could still carry one — in an id, a name, a trait,
  // or a property that becomes a text column (a plan, a feature).
  const cases: [string, "track" | "identify", "invalid_payload"][] = [
    ['{"external_user_id":"lone\\ud800","name":"x"}', "track", "invalid_payload"],
    ['{"external_user_id":"q-user","name":"clicked\\udc00"}', "track", "invalid_payload"],
    ['{"external_user_id":"q-user","traits":{"name":"Ann\\ud800"}}', "identify", "invalid_payload"],
    ['{"external_user_id":"q-user","name":"feature_used","properties":{"feature":"exp\\ud800"}}', "track", "invalid_payload"],
    ['{"external_user_id":"q-user","name":"subscription_changed","properties":{"to":"pro\\udfff"}}', "track", "invalid_payload"],
    ['{"external_user_id":"q-user","name":"subscription_changed","properties":{"to":"pro","interval":"\\udfff"}}', "track", "invalid_payload"],
    ['{"external_user_id":"q-user","name":"onboarding_step","properties":{"step":"\\ud800"}}', "track", "invalid_payload"],
  ];
  for (const [payload, kind, reason] of cases) {
    const id = await quarantineOne(payload, kind);
    expect((await showQuarantine(server.ctx.database, id))!.reason).toBe(reason);
  }
  // Nothing ill-formed reached a text column: every user and event name reads back (libSQL aborts on invalid UTF-8).
  expect(String((await userRow(server.ctx.database, "q-user"))!.name)).not.toContain("Ann");
  expect((await rows(server.ctx.database, "SELECT name FROM events")).map((r) => r.name)).not.toContain("clicked\ufffd");
  const listed = await listQuarantine(server.ctx.database, { projectId: "acme", reason: "invalid_payload" });
  expect(listed.items.map((q) => q.externalUserId)).toContain("lone\ufffd"); // shown with U+FFFD, stored well-formed
});

test("events/bulk: an event refused for its canonical properties alone is reported rejected AND kept in quarantine (SPEC §5.3); other refusals store nothing", async () => {
  const wrongType = '{"external_user_id":"q-user","name":"trial_started","properties":{"trialDays":"14"},"timestamp":"2026-01-02T03:04:05Z"}';
  const body = `{"events":[{"external_user_id":"q-user","name":"bulk_ok"}, ${wrongType}, {"external_user_id":"q-user","name":""}]}`;
  const res = await server.api("/api/v1/events/bulk", { body, headers: { "content-type": "application/json" } });
  expect(res.status).toBe(200);
  const answer = (await res.json()) as { data: { accepted: number; rejected: number; errors: { index: number; field: string; message: string }[] } };
  expect([answer.data.accepted, answer.data.rejected]).toEqual([1, 2]);
  expect(answer.data.errors.map((e) => [e.index, e.field])).toEqual([[1, "events[1].properties.trialDays"], [2, "events[2].name"]]);
  expect(answer.data.errors[0]!.message).toContain("kept in quarantine");
  await drain(server);
  const kept = await rows(server.ctx.database, "SELECT reason, payload FROM quarantine WHERE payload LIKE '%2026-01-02T03:04:05Z%'");
  expect(kept).toEqual([{ reason: "invalid_property", payload: wrongType }]); // verbatim, as sent
  expect(await count(server.ctx.database, "SELECT count(*) AS n FROM events WHERE occurred_at = ? OR name = ''", [Date.parse("2026-01-02T03:04:05Z")])).toBe(0);
  expect(await count(server.ctx.database, "SELECT count(*) AS n FROM events WHERE name = 'bulk_ok'")).toBe(1);
  expect(await count(server.ctx.database, "SELECT count(*) AS n FROM quarantine WHERE payload LIKE '%\"name\":\"\"%'")).toBe(0);
});
