import type { AppContext } from "./context";

/**
 * The background loops of the process, in start order (they stop in reverse): each capability adds its own
 * here with one line. Route factories in app.ts may register services too (the ingest writer does).
 */
export function registerServices(ctx: AppContext): void {
  void ctx;
}
