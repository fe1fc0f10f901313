/**
 * Lets the event loop turn during long database work. libSQL's local calls run synchronously under their
 * promises, so a loop of awaited statements (the evaluator's ranges, a page of 2,000 drafts being rendered, the
 * sender's batch) never gives HTTP a turn: `/healthz` and every request waited seconds behind a big run.
 *
 * Loops call `breathe()` between steps. It yields one macrotask turn (`setImmediate`) only when the loop has not
 * turned for BUDGET_MS — a timer marks every turn — so a quiet loop pays one `performance.now()` per call, and
 * a starved one lets the waiting I/O in about every BUDGET_MS. Inside a write transaction that is safe: other
 * writers queue on the Database's write lock, readers use the read connection.
 */
const BUDGET_MS = 20;
let lastTurn = performance.now();
let marker: Timer | undefined;

export async function breathe(): Promise<void> {
  marker ??= setInterval(() => (lastTurn = performance.now()), BUDGET_MS / 2).unref();
  if (performance.now() - lastTurn < BUDGET_MS) return;
  await new Promise<void>((resolve) => setImmediate(resolve));
  lastTurn = performance.now();
}
