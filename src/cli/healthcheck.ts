import { loadConfig, resolveConfigPath } from "../config/load";
import { CONFIG_HELP, parseCommandArgs, UsageError, type Command } from "./command";

/**
 * `vibefollow healthcheck`: GET /healthz (or /readyz) of the running server and exit 0 or 1. The Docker image
 * has no curl, so its HEALTHCHECK runs this; it finds the server from the same config (and env) as `serve`.
 */
export const healthcheck: Command = {
  name: "healthcheck",
  summary: "check a running server (exit 0 when healthy): for Docker HEALTHCHECK",
  usage: `vibefollow healthcheck [--config PATH] [--url URL] [--ready] [--timeout MS]

GETs /healthz of the server that server.listen (or $VIBEFOLLOW_LISTEN) points at; exit 0 when it answers 200,
1 otherwise (also for a bad config or wrong usage: Docker reserves exit code 2). A wildcard listen address (0.0.0.0, [::]) is checked on the loopback address.

  --url URL       check this base URL instead (e.g. http://10.0.0.5:8080)
  --ready         check /readyz (database reachable, migrations applied) instead of /healthz
  --timeout MS    give up after this many milliseconds (default 3000)
${CONFIG_HELP}`,
  async run(argv) {
    // Every failure is exit 1 here, wrong usage included: Docker reserves exit code 2 of a HEALTHCHECK.
    let values;
    try {
      ({ values } = parseCommandArgs(argv, { url: { type: "string" }, ready: { type: "boolean" }, timeout: { type: "string" } }));
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      console.error(`vibefollow healthcheck: ${e.message}\n\n${healthcheck.usage}`);
      return 1;
    }
    const timeout = Number(values.timeout ?? 3000);
    if (!Number.isFinite(timeout) || timeout <= 0) {
      console.error(`vibefollow healthcheck: --timeout is a number of milliseconds, found ${JSON.stringify(values.timeout)}`);
      return 1;
    }
    let base = values.url;
    if (base === undefined) {
      // A bad config is exit 1 as well (above).
      try {
        base = urlFromListen(loadConfig(resolveConfigPath(values.config)).config.server.listen);
      } catch (e) {
        console.error((e as Error).message);
        return 1;
      }
    }
    const target = new URL(values.ready ? "/readyz" : "/healthz", base).toString();
    try {
      const res = await fetch(target, { signal: AbortSignal.timeout(timeout) });
      console.log(`${target}: ${res.status}`);
      return res.status === 200 ? 0 : 1;
    } catch (e) {
      console.error(`${target}: ${(e as Error).message}`);
      return 1;
    }
  },
};

export function urlFromListen(listen: string): string {
  const i = listen.lastIndexOf(":");
  let host = listen.slice(0, i);
  if (host === "0.0.0.0" || host === "") host = "127.0.0.1";
  if (host === "[::]") host = "[::1]";
  return `http://${host}:${listen.slice(i + 1)}`;
}
