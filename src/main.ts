import { createApp } from "./app";
import type { LoadedConfig } from "./config/load";
import { sendsOverSmtp } from "./config/schema";
import { configWarnings } from "./config/warnings";
import type { AppContext, Service } from "./context";
import { openDatabase } from "./db/client";
import { migrate } from "./db/migrate";
import { syncProjects } from "./keys/projects";
import { KeyVerifier } from "./keys/service";
import { log } from "./lib/log";
import { provisionFirstStart } from "./ops/first-start";
import { registerServices } from "./services";

/** How long a shutdown waits for requests in flight before closing their connections. */
const SHUTDOWN_GRACE_MS = 10_000;

export type StartOptions = {
  loaded: LoadedConfig;
  /** Overrides `server.listen` (tests pass "127.0.0.1:0" for a free port). */
  listen?: string;
  /** Background loops off: tests drive them by hand. */
  background?: boolean;
  print?: (line: string) => void;
};

export type Running = {
  url: string;
  ctx: AppContext;
  services: Service[];
  stop(): Promise<void>;
};

/**
 * Wires the process together — config, database, HTTP server, background loops — and takes it down in
 * reverse order. No logic lives here; each capability owns its part.
 */
export async function startVibefollow(options: StartOptions): Promise<Running> {
  const { config, embeddedDefaults } = options.loaded;
  const database = await openDatabase(config.database);
  const applied = await migrate(database);
  await syncProjects(database, config);
  if (embeddedDefaults) await provisionFirstStart(database, options.print ?? console.log);

  const ctx: AppContext = { config, database, keys: new KeyVerifier(database, undefined, (id) => config.projects.some((p) => p.id === id)), services: [] };
  registerServices(ctx);
  const app = createApp(ctx);
  const services = ctx.services;

  const [host, port] = splitListen(options.listen ?? config.server.listen);
  try {
    // Each route enforces its own, smaller limit with the SPEC envelope (ingest 1 MiB, Segment 500 KB); this
    // outer cap only bounds what a body without Content-Length can make the process buffer.
    // reusePort (Elysia's default) would let a second Vibefollow on the same port start and take half of the
    // connections — with its own keys and database. One port, one process.
    app.listen({ hostname: host, port, maxRequestBodySize: 64 * 1024 * 1024, reusePort: false });
  } catch (e) {
    database.close(); // e.g. the port is taken: leave nothing open behind the error
    throw e;
  }
  const server = app.server!;
  const address = `${host.includes(":") ? `[${host}]` : host}:${server.port}`;
  const url = `http://${address}`;
  // Without `public_url`, links in emails are built from `server.listen`: make it the address actually served,
  // so that `serve --listen` (which overrides the file) and a port of 0 give links that reach this server.
  config.server.listen = address;

  if (options.background !== false) for (const s of services) await s.start();
  log.info("started", {
    url,
    config: options.loaded.file ?? "embedded defaults",
    database: database.url,
    synchronous: config.database.synchronous,
    projects: config.projects.map((p) => p.id),
    mail: sendsOverSmtp(config) ? "smtp" : "outbox",
    migrationsApplied: applied.length,
  });
  for (const warning of configWarnings(config)) log.warn("config warning", { warning });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Stop accepting; requests in flight finish (each one's commit included). Idle keep-alive connections are
      // closed; a client that keeps a request hanging is cut off after the grace period.
      const grace = setTimeout(() => void server.stop(true), SHUTDOWN_GRACE_MS);
      await server.stop();
      clearTimeout(grace);
      for (const s of [...services].reverse()) await s.stop().catch((error) => log.error("stop failed", { service: s.name, error }));
      await database.closeWhenIdle(); // after the last queued write, so nothing acknowledged is cut short
      log.info("stopped");
    })());
  return { url, ctx, services, stop };
}

function splitListen(listen: string): [string, number] {
  const i = listen.lastIndexOf(":");
  return [listen.slice(0, i).replace(/^\[|\]$/g, ""), Number(listen.slice(i + 1))];
}
