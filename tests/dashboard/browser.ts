import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/** Debian's chromium, headless, driven by playwright-core (DESIGN: dashboard tests in a real browser). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export type SignedIn = { context: BrowserContext; page: Page; dialogs: string[]; trace: string[] };

/**
 * How long one browser step may wait: well under the test's own timeout, so a step that never completes fails
 * that test with Playwright's call log. Were the test's timeout to strike first, bun would kill the browser
 * the whole file shares, and every later test would fail with it.
 */
const STEP_TIMEOUT_MS = 10_000;
/** How many of a page's recent events (requests, responses, loads, crashes) a failing test reports. */
const TRACE_LENGTH = 40;

/** A fresh browser context on the site, its steps bounded by STEP_TIMEOUT_MS. */
export async function openContext(browser: Browser, url: string): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL: url });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  return context;
}

/** A fresh browser context signed in through the login form; every JS dialog it opens is recorded. */
export async function signInBrowser(browser: Browser, url: string, account: { username: string; password: string }): Promise<SignedIn> {
  const context = await openContext(browser, url);
  const page = await context.newPage();
  const dialogs: string[] = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  const trace: string[] = [];
  const started = performance.now();
  const note = (what: string) => {
    trace.push(`${Math.round(performance.now() - started)} ms ${what}`);
    if (trace.length > TRACE_LENGTH) trace.shift();
  };
  page.on("request", (r) => note(`→ ${r.method()} ${r.url()}`));
  page.on("response", (r) => note(`← ${r.status()} ${r.url()}`));
  page.on("requestfailed", (r) => note(`✗ ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on("load", () => note(`load ${page.url()}`));
  page.on("crash", () => note("the page crashed"));
  await page.goto("/dashboard");
  await page.fill("#username", account.username);
  await page.fill("#password", account.password);
  await Promise.all([page.waitForURL(/\/dashboard$/), page.click("button[type=submit]")]);
  return { context, page, dialogs, trace };
}

/**
 * Clicks what navigates the tab (a link, a form's button) and returns once the new page has loaded. A locator
 * issued straight after a plain `click` can be pinned to the page being left: three times (CI, and 2 of 51
 * CI-like runs; a form posted, its answer a 200 page), the wait for an element of the new page never ended.
 * Waiting for the main frame to commit the new document first closes that race.
 */
export async function clickToNavigate(page: Page, selector: string): Promise<void> {
  await Promise.all([page.waitForEvent("framenavigated", { predicate: (frame) => frame === page.mainFrame() }), page.click(selector)]);
  await page.waitForLoadState("load");
}

/**
 * A test body whose failure also reports what the signed-in pages last did (their URL and recent network
 * events): a browser step that fails only now and then can then be told apart — the form never sent, the
 * server's answer an error, the page crashed — from the log of the one run it failed in.
 */
export function traced(pages: () => Record<string, SignedIn>, body: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await body();
    } catch (error) {
      const report = Object.entries(pages())
        .map(([name, p]) => `${name} page at ${p.page.url()}, its last events:\n  ${p.trace.join("\n  ")}`)
        .join("\n");
      if (error instanceof Error) error.message += `\n${report}`;
      throw error;
    }
  };
}
