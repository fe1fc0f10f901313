import type { Client } from "@libsql/client";
import type { Config } from "../config/schema";
import { Database } from "../db/client";
import { setClock } from "../lib/clock";
import { wireHooks } from "../hooks";
import { processBatch, type StepResult } from "./process-batch";
import { projectSettings } from "./settings";
import type { ProjectSettings } from "./project-apply";

/**
 * One normaliser step on the write thread (src/db/thread-worker.ts): the whole batch — reading the queue,
 * the items' JavaScript, every statement, the hooks, the commit — runs there on the thread's connection, so
 * the main thread only sends `limit` and receives the counts. Set up on the first step: a Database over the
 * thread's connection, and the same pipeline hooks the main thread wires (src/hooks.ts).
 */

let state: { database: Database; settings: ReadonlyMap<string, ProjectSettings> } | undefined;

export async function normaliseOnThread(client: Client, url: string, m: { limit: number; at: number; config: Config }): Promise<StepResult> {
  if (!state) {
    wireHooks(m.config);
    state = { database: new Database(client, client, url), settings: projectSettings(m.config) };
  }
  // The main thread's clock (tests move it): every time this step records is the one it was sent.
  setClock({ now: () => m.at });
  return processBatch(state.database, state.settings, m.limit);
}
