import { createDrafts } from "../../src/drafts";
import { addAdmin } from "../../src/dashboard/accounts";
import { drainQueue } from "../../src/pipeline";
import { runEvaluator } from "../../src/rules";
import { ONLY_WELCOME } from "../drafts/support";
import { startTestServer, type TestServer } from "../support/harness";

export const ADMIN = { username: "jane", password: "correct horse battery staple" };
export const VIEWER = { username: "victor", password: "viewer password 123" };

export type Site = {
  server: TestServer;
  url: string;
  /** Normaliser, then (optionally) the evaluator with its matches becoming drafts — as the background loops would. */
  process(evaluate?: boolean): Promise<void>;
  identify(userId: string, body: Record<string, unknown>): Promise<void>;
  track(userId: string, name: string, properties?: Record<string, unknown>): Promise<void>;
  sql(text: string, args?: (string | number | null)[]): Promise<Record<string, any>[]>;
  close(): Promise<void>;
};

/**
 * A real server (real DB file; loops off and driven by hand) with two projects, an admin and a viewer account.
 * `top` is extra top-level TOML (e.g. `[server]` with an https public_url).
 */
export async function startSite(top = ""): Promise<Site> {
  const server = await startTestServer(
    `${top}
[[projects]]
id = "acme"
name = "Acme"
timezone = "UTC"
send_window = { start = "00:00", end = "24:00" }
${ONLY_WELCOME}
[[projects]]
id = "beta"
name = "Beta Corp"
`,
    { background: false },
  );
  await Promise.all([
    addAdmin(server.ctx.database, ADMIN.username, ADMIN.password, "admin"),
    addAdmin(server.ctx.database, VIEWER.username, VIEWER.password, "viewer"),
  ]);
  const post = async (path: string, body: unknown) => {
    const res = await server.api(path, { body });
    if (res.status >= 300) throw new Error(`${path} → ${res.status} ${await res.text()}`);
  };
  const site: Site = {
    server,
    url: server.url,
    async process(evaluate = false) {
      await drainQueue(server.ctx);
      if (evaluate) {
        await runEvaluator(server.ctx, { trigger: "manual", onMatches: async (tx, m) => void (await createDrafts(tx, m, server.ctx.config)) });
      }
    },
    identify: (userId, body) => post("/api/v1/users", { external_user_id: userId, ...body }),
    track: (userId, name, properties) => post("/api/v1/events", { external_user_id: userId, name, properties }),
    async sql(text, args = []) {
      const rs = await server.ctx.database.read({ sql: text, args });
      return rs.rows.map((r) => Object.fromEntries(rs.columns.map((c) => [c, r[c]])));
    },
    close: () => server.close(),
  };
  return site;
}

/** A fetch client with a cookie jar of one session: signs in the way a browser does (login form token first). */
export async function signIn(url: string, account: { username: string; password: string }) {
  const form = await fetch(`${url}/dashboard/login`);
  const loginCookie = /vf_login=([^;]+)/.exec(form.headers.get("set-cookie") ?? "")?.[1] ?? "";
  const loginToken = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? "";
  const res = await fetch(`${url}/dashboard/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: `vf_login=${loginCookie}` },
    body: new URLSearchParams({ _csrf: loginToken, ...account }),
  });
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith("vf_session=")) ?? "";
  const token = /^vf_session=([^;]*)/.exec(setCookie)?.[1] ?? "";
  const get = (path: string) => fetch(`${url}${path}`, { redirect: "manual", headers: { cookie: `vf_session=${token}` } });
  const page = await get("/dashboard");
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? "";
  return {
    res,
    setCookie,
    token,
    csrf,
    get,
    post: (path: string, fields: Record<string, string | string[]>, headers: Record<string, string> = {}) => {
      const body = new URLSearchParams();
      for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) body.append(k, one);
      return fetch(`${url}${path}`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded", cookie: `vf_session=${token}`, ...headers },
        body,
      });
    },
  };
}
