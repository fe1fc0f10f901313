/**
 * Per-test cleanups for shared support modules. A hook written at the top level of a support module
 * (`afterEach(...)` in tests/drafts/support.ts) is registered only for the first test file that imports it —
 * Bun evaluates the module once — so later files would leak servers and a moved clock. Support modules push
 * their cleanups here instead; tests/support/preload.ts runs them after every test of every file.
 */
const cleanups: (() => void | Promise<void>)[] = [];

export function afterEachTest(cleanup: () => void | Promise<void>): void {
  cleanups.push(cleanup);
}

export async function runAfterEachTest(): Promise<void> {
  for (const cleanup of cleanups) await cleanup();
}
