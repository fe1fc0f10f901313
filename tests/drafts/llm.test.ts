import { afterAll, beforeAll, expect, test } from "bun:test";
import { draftPendingWithModel, editDraft, listDrafts } from "../../src/drafts";
import { ONLY_WELCOME, startWorld } from "./support";

/** A local server speaking the OpenAI chat-completions API; `mode` picks its behaviour. */
let mode: "ok" | "garbage" | "slow" | "error" | "lone-surrogate" | "nul" | "no-text" = "ok";
const requests: { auth: string | null; body: any }[] = [];
let server: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      if (new URL(req.url).pathname !== "/v1/chat/completions") return new Response("no", { status: 404 });
      const body = await req.json();
      requests.push({ auth: req.headers.get("authorization"), body });
      // Slow: an answer only after 30 s, unless the client gives up first (its timeout).
      if (mode === "slow") await Promise.race([Bun.sleep(30_000), new Promise((r) => req.signal.addEventListener("abort", r))]);
      if (mode === "error") return Response.json({ error: { message: "overloaded" } }, { status: 503 });
      const content =
        mode === "garbage"
          ? "Sure! Here is a lovely email for you."
          : mode === "lone-surrogate"
            ? '{"subject":"Hi \\ud800","text":"Not Unicode text \\udfff"}' // stored, this would be invalid UTF-8
            : mode === "no-text"
              ? '{"subject":"Only a subject"}'
            : mode === "nul"
              ? '{"subject":"Hello\\u0000 there","text":"Short\\u0000 and the rest of it."}' // libSQL reads text up to a NUL
            : "```json\n" + JSON.stringify({ subject: "Quick hello from Acme", text: "Hi Ann,\n\nGlad you're here. What are you hoping to get done?\n\nJane" }) + "\n```";
      return Response.json({ id: "c1", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] });
    },
  });
});
afterAll(() => server.stop(true));

const drafting = (timeout = "300ms") => `[drafting]\nbase_url = "http://127.0.0.1:${server.port}/v1"\nmodel = "tiny-writer"\napi_key = "sk-test"\ntimeout = "${timeout}"\n`;
const FAST = `autopilot = true\nreview_window = "0s"\nsend_window = { start = "00:00", end = "24:00" }\n${ONLY_WELCOME}`;

async function draftFor(mode_: typeof mode) {
  mode = mode_;
  const w = await startWorld(FAST, drafting());
  await w.signUp("ann");
  await w.evaluate();
  return w;
}

test("with [drafting], the model writes the draft; nothing is sent while the rewrite is pending", async () => {
  requests.length = 0;
  const w = await draftFor("ok");
  const [pending] = await listDrafts(w.server.ctx.database);
  expect([pending!.drafting, pending!.source, pending!.state]).toEqual(["pending", "template", "scheduled"]);
  expect((await w.tick()).queued).toBe(0); // due, but waiting for the model

  expect((await draftPendingWithModel(w.server.ctx.database, w.server.ctx.config)).written).toBe(1);
  const [d] = await listDrafts(w.server.ctx.database);
  expect([d!.drafting, d!.source]).toEqual(["done", "llm"]);
  expect(d!.subject).toBe("Quick hello from Acme");
  expect(d!.text).toStartWith("Hi Ann,\n\nGlad you're here.");
  expect(d!.text).toContain("Unsubscribe: https://vf.example.com/u/"); // the footer is ours, not the model's
  expect(d!.html).toContain("<p>Glad you&#39;re here. What are you hoping to get done?</p>");

  expect(requests).toHaveLength(1);
  expect(requests[0]!.auth).toBe("Bearer sk-test");
  expect(requests[0]!.body.model).toBe("tiny-writer");
  const context = JSON.parse(requests[0]!.body.messages[1].content);
  expect(context.context.user.first_name).toBe("Ann");
  expect(context.context.rule.id).toBe("welcome");
  expect(JSON.stringify(context)).not.toContain("ann@example.com");
  expect(context.template_draft.subject).toBe("Welcome to Acme, Ann");

  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
});

test("a NUL character from the model is dropped: the whole text and the unsubscribe footer are stored and sent", async () => {
  const w = await draftFor("nul");
  expect((await draftPendingWithModel(w.server.ctx.database, w.server.ctx.config)).written).toBe(1);
  const [d] = await listDrafts(w.server.ctx.database);
  expect([d!.source, d!.subject]).toEqual(["llm", "Hello there"]);
  expect(d!.text).toStartWith("Short and the rest of it.");
  expect(d!.text).toContain("Unsubscribe: https://vf.example.com/u/");
  expect(d!.html).toContain("Unsubscribe</a>");
});

test("a NUL character in a dashboard or CLI edit is dropped, not a body cut short", async () => {
  const w = await draftFor("garbage");
  const [d] = await listDrafts(w.server.ctx.database);
  const edited = await editDraft(w.server.ctx.database, d!.id, { subject: "Hi\u0000 you", text: "nul\u0000 here, and more." }, "cli");
  expect([edited.subject, edited.text.split("\n")[0]]).toEqual(["Hi you", "nul here, and more."]);
  expect(edited.text).toContain("Unsubscribe: https://vf.example.com/u/");
});

const answers = { garbage: "garbage", slow: "too slowly", error: "with an error", "lone-surrogate": "text that is not Unicode (a lone surrogate escape)", "no-text": "JSON without a text" };
for (const [m, why] of [["garbage", "not JSON"], ["slow", "timed out"], ["error", "503"], ["lone-surrogate", "not valid Unicode text"], ["no-text", 'the answer is not {"subject", "text"}: text: ']] as const) {
  test(`a model that answers ${answers[m]} leaves the template draft (source = template)`, async () => {
    const w = await draftFor(m);
    const [before] = await listDrafts(w.server.ctx.database);
    const started = performance.now();
    expect(await draftPendingWithModel(w.server.ctx.database, w.server.ctx.config)).toEqual({ written: 0, failed: 1, more: false });
    if (m === "slow") expect(performance.now() - started).toBeLessThan(10_000); // not the 30 s answer
    const [d] = await listDrafts(w.server.ctx.database);
    expect([d!.drafting, d!.source, d!.subject, d!.text]).toEqual(["failed", "template", before!.subject, before!.text]);
    const [h] = await w.sql("SELECT note FROM draft_history WHERE actor = 'drafting'");
    expect(String(h!.note)).toStartWith("model failed, template kept");
    if (m === "slow" || m === "lone-surrogate" || m === "no-text") expect(String(h!.note)).toContain(why);
    expect(String(h!.note)).not.toContain("\n"); // one line in the history, not a dump of the schema's error
    expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
  });
}

test("a person's edit made before the rewrite wins: the model is not asked to overwrite it", async () => {
  const w = await draftFor("ok");
  const [d] = await listDrafts(w.server.ctx.database);
  await editDraft(w.server.ctx.database, d!.id, { subject: "Written by Jane" }, "dashboard:jane");
  await draftPendingWithModel(w.server.ctx.database, w.server.ctx.config);
  const [after] = await listDrafts(w.server.ctx.database);
  expect([after!.subject, after!.source, after!.drafting]).toEqual(["Written by Jane", "template", "done"]);
});

test("drafts left pending when [drafting] is switched off keep their template and are sent", async () => {
  const w = await draftFor("ok");
  const config = { ...w.server.ctx.config, drafting: undefined };
  expect((await draftPendingWithModel(w.server.ctx.database, config)).written).toBe(0);
  const [d] = await listDrafts(w.server.ctx.database);
  expect([d!.drafting, d!.source]).toEqual(["failed", "template"]);
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
});

test("a slow model holds a first run's drafts about one timeout in all, not one timeout each", async () => {
  mode = "slow"; // answers after 30 s; the timeout is 2 s, long beside the machine's own work for 8 drafts
  const w = await startWorld(FAST, drafting("2s"));
  for (let i = 0; i < 8; i++) await w.signUp(`slow${i}`);
  await w.evaluate();
  const started = performance.now();
  expect(await draftPendingWithModel(w.server.ctx.database, w.server.ctx.config)).toEqual({ written: 0, failed: 8, more: false });
  expect(performance.now() - started).toBeLessThan(8_000); // one by one: 8 × 2 s at least
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(Array(8).fill("sent"));
});

test("a draft already more than a timeout past its send time keeps its template without asking the model", async () => {
  requests.length = 0;
  const w = await draftFor("ok");
  w.clock.advance(301); // the timeout is 300 ms, and the draft was due at once
  expect(await draftPendingWithModel(w.server.ctx.database, w.server.ctx.config)).toEqual({ written: 0, failed: 1, more: false });
  expect(requests).toHaveLength(0);
  const [h] = await w.sql("SELECT note FROM draft_history WHERE actor = 'drafting'");
  expect(String(h!.note)).toBe("model failed, template kept: its send time passed before the model could be asked");
  expect((await w.tick()).outcomes.map((o) => o.outcome)).toEqual(["sent"]);
});

test("a project's own [projects.drafting] writes its drafts, without an instance-wide [drafting]", async () => {
  requests.length = 0;
  mode = "ok";
  const own = `\n[projects.drafting]\nbase_url = "http://127.0.0.1:${server.port}/v1"\nmodel = "project-writer"\ntimeout = "300ms"\n`;
  const w = await startWorld(FAST + own);
  await w.signUp("ann");
  await w.evaluate();
  const [pending] = await listDrafts(w.server.ctx.database);
  expect(pending!.drafting).toBe("pending");
  expect((await draftPendingWithModel(w.server.ctx.database, w.server.ctx.config)).written).toBe(1);
  expect(requests.map((r) => [r.body.model, r.auth])).toEqual([["project-writer", null]]);
  const [d] = await listDrafts(w.server.ctx.database);
  expect([d!.source, d!.subject]).toEqual(["llm", "Quick hello from Acme"]);
});
