import type { Config } from "./config/schema";
import type { Database } from "./db/client";
import type { KeyVerifier } from "./keys/service";

/** What every capability is handed at start-up: the config, the database, and shared services. */
export type AppContext = {
  config: Config;
  database: Database;
  keys: KeyVerifier;
  /** Background parts registered while wiring (src/services.ts, route factories); main.ts starts and stops them. */
  services: Service[];
};

/** A background part of the process (a loop, a cron job) that main.ts starts and stops in order. */
export type Service = {
  name: string;
  start(): void | Promise<void>;
  /** Finish the work in flight, then resolve. */
  stop(): Promise<void>;
};
