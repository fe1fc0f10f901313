import type { Config } from "../config/schema";
import type { Service } from "../context";
import type { Database } from "../db/client";
import { log } from "../lib/log";
import { deliverDue, reconcileInterrupted, type Outcome } from "../mail/sender";
import { Messengers, smtpFor } from "../mail/transport";
import { anyDrafting, draftPendingWithModel } from "./llm";
import { dispatchDue, expireDue, type DispatchSummary } from "./scheduler";

export type SendingEnv = { database: Database; config: Config; messengers: Messengers };

export type TickSummary = DispatchSummary & { expired: number; outcomes: Outcome[]; /** a page was full: run again at once */ more: boolean };

const DISPATCH_PAGE = 200;
const DELIVERY_PAGE = 500;

/** How many SMTP calls may be in flight at once: the largest configured pool. */
export function sendConcurrency(config: Config): number {
  return Math.max(1, ...config.projects.map((p) => smtpFor(config, p)?.max_connections ?? 1));
}

/**
 * One pass of the scheduler and sender: expire unapproved drafts past their deadline, queue due scheduled
 * drafts (after the re-check), then deliver due messages. Tests call this by hand with a manual clock.
 */
export async function runSendingTick(env: SendingEnv, keepGoing: () => boolean = () => true): Promise<TickSummary> {
  const expired = await expireDue(env.database);
  const dispatched = await dispatchDue(env, DISPATCH_PAGE);
  const outcomes = await deliverDue(env, sendConcurrency(env.config), DELIVERY_PAGE, keepGoing);
  const more = dispatched.queued + dispatched.cancelled + dispatched.deferred >= DISPATCH_PAGE || outcomes.length >= DELIVERY_PAGE;
  return { expired, ...dispatched, outcomes, more };
}

/**
 * The background loops of SPEC §8/§9: the scheduler + sender tick (every `intervalMs`) and, when `[drafting]`
 * is set, the LLM rewrite loop beside it (so a slow model never delays a send). On start, messages left
 * `sending` by a crash are re-queued (see `reconcileInterrupted`).
 */
export function sendingService(deps: { database: Database; config: Config; intervalMs?: number }): Service & { env: SendingEnv } {
  const env: SendingEnv = { database: deps.database, config: deps.config, messengers: new Messengers(deps.config) };
  const interval = deps.intervalMs ?? 1_000;
  let running = false;
  const loops: { timer?: ReturnType<typeof setTimeout>; current?: Promise<unknown> }[] = [];

  const loop = (name: string, work: () => Promise<unknown>) => {
    const state: (typeof loops)[number] = {};
    loops.push(state);
    const step = () => {
      if (!running) return;
      let more = false;
      state.current = work()
        .then((result) => void (more = (result as { more?: boolean } | undefined)?.more === true))
        .catch((error) => log.error(`${name} tick failed`, { error }))
        .finally(() => {
          // A full page means a backlog (a big first run): go on at once instead of waiting a whole interval.
          if (running) state.timer = setTimeout(step, more ? 0 : interval);
        });
    };
    step();
  };

  return {
    name: "sending",
    env,
    async start() {
      if (!deps.config.server.public_url && deps.config.projects.some((p) => smtpFor(deps.config, p))) {
        log.warn("server.public_url is not set: unsubscribe links in outgoing mail point at the listen address");
      }
      await reconcileInterrupted(deps.database);
      running = true;
      loop("sending", () => runSendingTick(env, () => running));
      // Without [drafting], drafts left pending by an earlier config keep their template text and may go out.
      if (anyDrafting(deps.config)) loop("drafting", () => draftPendingWithModel(deps.database, deps.config)); // `more`: a full page goes on at once
      else await draftPendingWithModel(deps.database, deps.config);
    },
    async stop() {
      running = false;
      for (const l of loops) {
        clearTimeout(l.timer);
        await l.current;
      }
      loops.length = 0;
      env.messengers.close();
    },
  };
}
