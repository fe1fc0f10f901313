/**
 * The one source of "now" for the whole program. Tests swap it to move days forward in milliseconds;
 * production code must call `now()` instead of `Date.now()`.
 */
export type Clock = { now(): number };

export const systemClock: Clock = { now: () => Date.now() };

let current: Clock = systemClock;

export function now(): number {
  return current.now();
}

export function setClock(clock: Clock): void {
  current = clock;
}

/** A clock tests can move by hand: `const c = manualClock(Date.parse("2026-01-01")); c.advance(days(3))`. */
export function manualClock(start: number) {
  let t = start;
  return {
    now: () => t,
    set(ms: number) { t = ms; },
    advance(ms: number) { t += ms; },
  };
}
