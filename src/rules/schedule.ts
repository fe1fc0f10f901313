import { Cron } from "croner";
import type { Config } from "../config/schema";
import type { Service } from "../context";
import type { Database } from "../db/client";
import { now } from "../lib/clock";
import { log } from "../lib/log";
import type { Evaluator } from "./evaluator";
import { findMissedSlot, markInterrupted, previousSlot } from "./runs";

/**
 * The evaluator's cron job (config `evaluator.schedule`, UTC). `protect` makes croner skip a tick while the
 * previous run is still going, so runs never overlap; a slot missed while the process was down (or whose run
 * crashed) runs once at start-up, in the background so start-up is not held up.
 */
export function evaluatorService(deps: { config: Pick<Config, "evaluator">; database: Database; evaluator: Evaluator }): Service & { whenIdle(): Promise<void> } {
  const { config, database, evaluator } = deps;
  const schedule = config.evaluator.schedule;
  let job: Cron | undefined;
  const inflight = new Set<Promise<unknown>>();
  let abort = new AbortController();

  const track = (p: Promise<unknown>) => {
    const tracked = p.catch((error) => log.error("evaluator run failed", { error })).finally(() => inflight.delete(tracked));
    inflight.add(tracked);
    return tracked;
  };

  return {
    name: "evaluator",
    async start() {
      if (!config.evaluator.enabled) return;
      abort = new AbortController();
      await markInterrupted(database);
      const missed = await findMissedSlot(database, schedule, now());
      job = new Cron(schedule, { timezone: "UTC", protect: true, name: "vibefollow-evaluator" }, async () => {
        await track(evaluator.run({ trigger: "schedule", slot: previousSlot(schedule, now()), signal: abort.signal }));
      });
      if (missed !== undefined) {
        log.info("evaluator: the latest slot has not run; running it now", { slot: new Date(missed).toISOString() });
        track(evaluator.run({ trigger: "startup", slot: missed, signal: abort.signal }));
      }
    },
    /** Resolves when no run is in flight (tests, and a caller that wants the start-up run done). */
    async whenIdle() {
      while (inflight.size > 0) await Promise.all([...inflight]);
    },
    async stop() {
      job?.stop();
      abort.abort();
      await Promise.all([...inflight]);
    },
  };
}
