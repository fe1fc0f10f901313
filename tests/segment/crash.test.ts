import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { tempDir } from "../support/harness";
import { createKeyWithCli, startServerProcess as startServer } from "../support/processes";
import { basic } from "./support";

// kill -9 while Segment batches flow, then the client's retry: every acknowledged message is in the file, and
// every message — acknowledged, cut off mid-request, or sent again — is stored exactly once, because its
// messageId key is committed in the same transaction as its row.

const CONNECTIONS = 6;


type Batch = { markers: string[]; body: string };

function makeBatch(conn: number, n: number): Batch {
  const markers = Array.from({ length: 5 }, (_, i) => `c${conn}n${n}i${i}`);
  const batch = markers.map((marker) => ({ type: "track", userId: `user-${conn}`, event: "Crash Probe", messageId: `msg-${marker}`, properties: { marker } }));
  return { markers, body: JSON.stringify({ batch, sentAt: new Date().toISOString() }) };
}

test("segment: acknowledged messages survive kill -9 and a retry after the crash stores nothing twice", async () => {
  const { dir, cleanup } = tempDir("vf-seg-crash-");
  try {
    const toml = join(dir, "vf.toml");
    writeFileSync(toml, `[database]\nurl = "file:${join(dir, "vf.db")}"\nsynchronous = "full"\n\n[ingest]\nrate_limit = { per_second = 1000000, burst = 1000000 }\n`);
    const key = createKeyWithCli(toml);
    expect(key).toStartWith("sk_live_");
    const headers = { authorization: basic(key), "content-type": "application/json" };

    const acked: Batch[] = [];
    const unacked: Batch[] = [];
    const unexpected: string[] = [];
    {
      const { child, url } = await startServer(toml);
      const exited = new Promise((r) => child.once("exit", r));
      let alive = true;
      const client = async (conn: number) => {
        for (let n = 0; alive; n++) {
          const b = makeBatch(conn, n);
          try {
            const res = await fetch(url + "/v1/batch", { method: "POST", headers, body: b.body });
            if (res.status === 200) acked.push(b);
            else unexpected.push(`${res.status} ${await res.text()}`);
          } catch {
            unacked.push(b); // cut off: the client does not know whether it was stored
            return;
          }
        }
      };
      const clients = Array.from({ length: CONNECTIONS }, (_, c) => client(c));
      const started = performance.now();
      while (acked.length < 30 && performance.now() - started < 15_000) await Bun.sleep(10);
      await Bun.sleep(Math.random() * 300);
      child.kill("SIGKILL");
      alive = false;
      await exited;
      await Promise.all(clients);
    }
    expect(unexpected).toEqual([]);
    expect(acked.length).toBeGreaterThanOrEqual(30);

    // The client retries what was cut off, and (as a careless pipeline might) resends some acknowledged batches.
    const { child, url } = await startServer(toml);
    for (const b of [...unacked, ...acked.slice(0, 10)]) {
      const res = await fetch(url + "/v1/batch", { method: "POST", headers, body: b.body });
      expect(res.status).toBe(200);
    }
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));

    const db = createClient({ url: `file:${join(dir, "vf.db")}` });
    const seen = new Map<string, number>();
    for (const table of ["ingest_queue", "events", "event_buffer", "quarantine"]) {
      const rs = await db.execute(`SELECT payload FROM ${table}`);
      for (const row of rs.rows) for (const m of String(row.payload).matchAll(/"marker":"([^"]+)"/g)) seen.set(m[1]!, (seen.get(m[1]!) ?? 0) + 1);
    }
    db.close();
    const expected = [...acked, ...unacked].flatMap((b) => b.markers);
    const missing = expected.filter((m) => !seen.has(m));
    const doubled = [...seen].filter(([, n]) => n > 1).map(([m]) => m);
    expect({ missing: missing.slice(0, 10), doubled: doubled.slice(0, 10) }).toEqual({ missing: [], doubled: [] });
    expect(seen.size).toBe(expected.length);
  } finally {
    cleanup();
  }
}, 60_000);
