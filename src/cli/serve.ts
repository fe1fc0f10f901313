import { startVibefollow } from "../main";
import { log } from "../lib/log";
import { CONFIG_HELP, loadForCommand, parseCommandArgs, type Command } from "./command";

export const serve: Command = {
  name: "serve",
  summary: "start the server, the normaliser, the evaluator and the sender",
  usage: `vibefollow serve [--config PATH] [--listen HOST:PORT]\n\nStarts everything in one process. SIGTERM or SIGINT shut it down cleanly.\n\n  --listen HOST:PORT  override server.listen\n${CONFIG_HELP}`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { listen: { type: "string" } });
    const loaded = loadForCommand(values.config);
    const running = await startVibefollow({ loaded, listen: values.listen });
    console.log(`Vibefollow listening on ${running.url}`);
    await new Promise<void>((resolve) => {
      const shutdown = (signal: string) => {
        log.info("shutting down", { signal });
        running.stop().then(resolve, (error) => {
          log.error("shutdown failed", { error });
          resolve();
        });
      };
      process.once("SIGTERM", () => shutdown("SIGTERM"));
      process.once("SIGINT", () => shutdown("SIGINT"));
    });
    return 0;
  },
};
