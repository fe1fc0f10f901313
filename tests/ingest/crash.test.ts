import { expect, test } from "bun:test";
import type { ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { tempDir } from "../support/harness";
import { createKeyWithCli, startServerProcess as startServer } from "../support/processes";

// DESIGN reliability bar: no acknowledged request lost under kill -9. A client fires events as fast as it can
// over several connections while the real server (a child process, synchronous = FULL) is killed at random
// moments and restarted; afterwards every event that got a 202 must be in the database — still queued, or
// already moved by the normaliser into events, the buffer or quarantine.

const ROUNDS = 3;
const CONNECTIONS = 8;

/**
 * One round: CONNECTIONS clients send while `alive()`; once the round is under way (50 more requests acknowledged,
 * or 15 s on a slow machine) the server is killed at a random moment in the next half second. Resolves when the
 * server is gone and every client has stopped.
 */
async function loadUntilKilled(
  child: ChildProcess,
  acknowledged: Set<string>,
  client: (conn: number, alive: () => boolean) => Promise<void>,
): Promise<void> {
  const exited = new Promise((r) => child.once("exit", r));
  const before = acknowledged.size;
  let alive = true;
  const clients = Array.from({ length: CONNECTIONS }, (_, c) => client(c, () => alive));
  const started = performance.now();
  while (acknowledged.size < before + 50 && performance.now() - started < 15_000) await Bun.sleep(10);
  await Bun.sleep(Math.random() * 500);
  child.kill("SIGKILL");
  alive = false;
  await exited;
  await Promise.all(clients);
  expect(acknowledged.size).toBeGreaterThan(before); // the round really acknowledged work
}

/** How many copies of each marker the database holds: still queued, or moved by the normaliser into events, the
 * buffer or quarantine. Read from outside the server. */
async function markerCopies(dir: string): Promise<Map<string, number>> {
  const db = createClient({ url: `file:${join(dir, "vf.db")}` });
  const copies = new Map<string, number>();
  for (const table of ["ingest_queue", "events", "event_buffer", "quarantine"]) {
    for (const row of (await db.execute(`SELECT payload FROM ${table}`)).rows) {
      for (const m of String(row.payload).matchAll(/"marker":"([^"]+)"/g)) copies.set(m[1]!, (copies.get(m[1]!) ?? 0) + 1);
    }
  }
  db.close();
  return copies;
}

/** A temp directory with a config (durable commits, no rate limit to speak of) and an API key for it. */
function setUp(prefix: string) {
  const { dir, cleanup } = tempDir(prefix);
  const toml = join(dir, "vf.toml");
  writeFileSync(toml, `[database]\nurl = "file:${join(dir, "vf.db")}"\nsynchronous = "full"\n\n[ingest]\nrate_limit = { per_second = 1000000, burst = 1000000 }\n`);
  const key = createKeyWithCli(toml);
  expect(key).toStartWith("sk_live_");
  return { dir, cleanup, toml, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" } };
}

test("every acknowledged event survives kill -9 at random moments", async () => {
  const { dir, cleanup, toml, headers } = setUp("vf-crash-");
  try {

    const acknowledged = new Set<string>();
    const unexpected: string[] = [];
    let sent = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const { child, url } = await startServer(toml);
      await loadUntilKilled(child, acknowledged, async (conn, alive) => {
        for (let n = 0; alive(); n++) {
          // Mostly single events, every fifth request a batch of 10: each event carries a unique marker.
          const markers = n % 5 === 4 ? Array.from({ length: 10 }, (_, i) => `r${round}c${conn}n${n}i${i}`) : [`r${round}c${conn}n${n}`];
          const events = markers.map((marker) => ({ external_user_id: `user-${conn}`, name: "crash_probe", properties: { marker } }));
          const [path, body] = events.length === 1 ? ["/api/v1/events", events[0]] : ["/api/v1/events/batch", { events }];
          sent += markers.length;
          try {
            const res = await fetch(url + path, { method: "POST", headers, body: JSON.stringify(body) });
            if (res.status === 202) for (const m of markers) acknowledged.add(m);
            else unexpected.push(`${res.status} ${await res.text()}`);
          } catch {
            return; // the server is gone
          }
        }
      });
      expect(unexpected).toEqual([]);
    }

    // A last clean start proves the file opens after the crashes; then count from outside the server.
    const { child, url } = await startServer(toml);
    expect((await fetch(url + "/readyz")).status).toBe(200);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));

    const found = await markerCopies(dir);
    const lost = [...acknowledged].filter((m) => !found.has(m));
    expect({ acknowledged: acknowledged.size, lost: lost.slice(0, 10) }).toEqual({ acknowledged: acknowledged.size, lost: [] });
    expect(sent).toBeGreaterThanOrEqual(acknowledged.size);
  } finally {
    cleanup();
  }
}, 90_000);

test("with Idempotency-Keys, as the SDK sends: retried after kill -9, every event is stored exactly once", async () => {
  const { dir, cleanup, toml, headers } = setUp("vf-crash-keys-");
  try {
    const acknowledged = new Set<string>();
    const unexpected: string[] = [];
    // Requests whose answer was lost with the server: sent again after the restart, same key and body (the SDK's retry).
    let unanswered: { marker: string; idempotencyKey: string }[] = [];
    const send = async (url: string, marker: string, idempotencyKey: string): Promise<boolean> => {
      const body = JSON.stringify({ external_user_id: `user-${marker.slice(0, 4)}`, name: "crash_probe", properties: { marker } });
      try {
        const res = await fetch(url + "/api/v1/events", { method: "POST", headers: { ...headers, "idempotency-key": idempotencyKey }, body });
        if (res.status === 202) acknowledged.add(marker);
        else unexpected.push(`${res.status} ${await res.text()}`);
        return true;
      } catch {
        unanswered.push({ marker, idempotencyKey });
        return false; // the server is gone
      }
    };
    let replays = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const { child, url } = await startServer(toml);
      const retry = unanswered;
      unanswered = [];
      for (const r of retry) expect(await send(url, r.marker, r.idempotencyKey)).toBe(true);
      replays += retry.length;
      await loadUntilKilled(child, acknowledged, async (conn, alive) => {
        for (let n = 0; alive(); n++) if (!(await send(url, `r${round}c${conn}n${n}`, crypto.randomUUID()))) return;
      });
      expect(unexpected).toEqual([]);
    }
    const { child, url } = await startServer(toml);
    for (const r of unanswered) expect(await send(url, r.marker, r.idempotencyKey)).toBe(true);
    expect(unexpected).toEqual([]);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));

    const copies = await markerCopies(dir);
    const lost = [...acknowledged].filter((m) => !copies.has(m));
    const doubled = [...copies].filter(([, n]) => n > 1).map(([m]) => m);
    expect({ lost: lost.slice(0, 10), doubled: doubled.slice(0, 10) }).toEqual({ lost: [], doubled: [] });
    expect(replays).toBeGreaterThan(0); // the kills did cut requests off, and their retries went through
  } finally {
    cleanup();
  }
}, 120_000);

test("SIGTERM under load: the server stops cleanly and every acknowledged event is in the file", async () => {
  const { dir, cleanup } = tempDir("vf-term-");
  try {
    const toml = join(dir, "vf.toml");
    writeFileSync(toml, `[database]\nurl = "file:${join(dir, "vf.db")}"\n\n[ingest]\nrate_limit = { per_second = 1000000, burst = 1000000 }\n`);
    const key = createKeyWithCli(toml);
    const { child, url } = await startServer(toml);
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const acknowledged = new Set<string>();
    let alive = true;
    const client = async (conn: number) => {
      for (let n = 0; alive; n++) {
        const marker = `t${conn}n${n}`;
        try {
          const res = await fetch(url + "/api/v1/events", {
            method: "POST",
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
            body: JSON.stringify({ external_user_id: `u${conn}`, name: "term_probe", properties: { marker } }),
          });
          if (res.status === 202) acknowledged.add(marker);
        } catch {
          return;
        }
      }
    };
    const clients = Array.from({ length: CONNECTIONS }, (_, c) => client(c));
    while (acknowledged.size < 100) await Bun.sleep(10);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    alive = false;
    await Promise.all(clients);
    const found = await markerCopies(dir);
    expect([...acknowledged].filter((m) => !found.has(m))).toEqual([]);
  } finally {
    cleanup();
  }
}, 60_000);
