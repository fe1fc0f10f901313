import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/** Debian's chromium, headless, driven by playwright-core (DESIGN: dashboard tests in a real browser). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export type SignedIn = { context: BrowserContext; page: Page; dialogs: string[] };

/** A fresh browser context signed in through the login form; every JS dialog it opens is recorded. */
export async function signInBrowser(browser: Browser, url: string, account: { username: string; password: string }): Promise<SignedIn> {
  const context = await browser.newContext({ baseURL: url });
  const page = await context.newPage();
  const dialogs: string[] = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.goto("/dashboard");
  await page.fill("#username", account.username);
  await page.fill("#password", account.password);
  await Promise.all([page.waitForURL(/\/dashboard$/), page.click("button[type=submit]")]);
  return { context, page, dialogs };
}
