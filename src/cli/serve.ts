import { log } from "../lib/log";
import { listenSchema } from "../config/schema";
import { lockDatabaseForServe } from "../db/serve-lock";
import { CONFIG_HELP, loadForCommand, parseCommandArgs, UsageError, type Command } from "./command";

export const serve: Command = {
  name: "serve",
  summary: "start the server, the normaliser, the evaluator and the sender",
  usage: `vibefollow serve [--config PATH] [--listen HOST:PORT]

Starts everything in one process: HTTP API and dashboard, normaliser, evaluator, sender. Applies pending
migrations first. With no config file it runs on embedded defaults and, on the very first start, prints an API
key and a dashboard password once.

SIGTERM or SIGINT shut it down cleanly: stop accepting, finish requests and commits in flight, let the
background loops finish their batch, close the database, log "stopped", exit 0. A second signal exits at once (1).
One serve per database file: a second serve on the same file exits 1.

  --listen HOST:PORT  override server.listen (and $VIBEFOLLOW_LISTEN), e.g. 0.0.0.0:8080
${CONFIG_HELP}`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { listen: { type: "string" } });
    if (values.listen !== undefined && !listenSchema.safeParse(values.listen).success) {
      throw new UsageError(`--listen: expected an address "host:port" with a port from 0 to 65535, e.g. 127.0.0.1:8080, found ${JSON.stringify(values.listen)}`);
    }
    const loaded = loadForCommand(values.config);
    // One serve per database file. Held until the database is closed, or the process ends (the kernel drops it
    // then, after a kill -9 too). Kept referenced: a collected connection would let the lock go.
    const lock = await lockDatabaseForServe(loaded.config.database.url);
    // Signals that arrive while starting are honoured once the process is up, not lost or fatal mid-migration.
    let pending: string | undefined;
    const early = (signal: string) => () => void (pending ??= signal);
    const earlyTerm = early("SIGTERM");
    const earlyInt = early("SIGINT");
    process.on("SIGTERM", earlyTerm).on("SIGINT", earlyInt);
    // Loaded here, not at the top: the whole application is only needed by `serve`, and every other command
    // (check-config, keys, the Docker healthcheck) starts faster without it.
    const { startVibefollow } = await import("../main");
    const running = await startVibefollow({ loaded, listen: values.listen });
    return await new Promise<number>((resolve) => {
      let stopping = false;
      const shutdown = (signal: string) => {
        if (stopping) {
          log.warn("second signal: exiting without waiting", { signal });
          process.exit(1);
        }
        stopping = true;
        log.info("shutting down", { signal });
        running.stop().then(
          () => {
            lock.release();
            resolve(0);
          },
          (error) => {
            log.error("shutdown failed", { error });
            resolve(1);
          },
        );
      };
      // The shutdown handlers go in before the early ones come out: with no listener at all for a moment, a
      // signal sent as soon as the line below is read would find the default action and kill the process.
      process.on("SIGTERM", () => shutdown("SIGTERM")).on("SIGINT", () => shutdown("SIGINT"));
      process.off("SIGTERM", earlyTerm).off("SIGINT", earlyInt);
      console.log(`Vibefollow listening on ${running.url}`);
      if (pending) shutdown(pending);
    });
  },
};
