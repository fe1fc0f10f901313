import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { startTestServer, type TestServer } from "../support/harness";

// Real processes on a shared machine: the same allowance as `npm test` (--timeout 60000) when run directly.
setDefaultTimeout(60_000);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

test("GET /healthz answers 200 while the process is alive", async () => {
  const res = await fetch(server.url + "/healthz");
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: "ok" });
});

test("GET /readyz answers 200 once the database is reachable and migrated", async () => {
  const res = await fetch(server.url + "/readyz");
  expect(res.status).toBe(200);
});

test("an unknown route gets the error envelope", async () => {
  const res = await fetch(server.url + "/nope");
  expect(res.status).toBe(404);
  expect(await res.json()).toEqual({ errors: [{ code: "not_found", message: "No such route." }] });
});
