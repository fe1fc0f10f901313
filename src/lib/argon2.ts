import { Mutex } from "./mutex";

/**
 * Argon2id checks, one at a time in the process, in arrival order. Each costs tens of milliseconds of CPU and
 * 19–64 MiB of memory by design, and some callers can be made to pay it on every request: an API key that fails
 * (one that starts with a real key's lookup prefix, which the dashboard shows, costs a full check), or a sign-in
 * under a new name each time (the name limit counts per name). Bun ran 7 such checks at once, and 8 connections
 * sending wrong keys kept both cores of a 2-core machine busy. Queued here, such traffic takes at most one core
 * and one check's memory; verified API keys are cached and never come here (docs/ingest.md).
 */
const queue = new Mutex();
let running = 0;
let mostAtOnce = 0;

/** `Bun.password.verify`, queued. */
export function verifyPassword(password: string, hash: string): Promise<boolean> {
  return queue.run(async () => {
    mostAtOnce = Math.max(mostAtOnce, ++running);
    try {
      return await Bun.password.verify(password, hash);
    } finally {
      running--;
    }
  });
}

/** The most checks that ever ran at once in this process (tests: always 1). */
export const argon2Stats = {
  get mostAtOnce(): number {
    return mostAtOnce;
  },
};
