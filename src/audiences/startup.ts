import type { AppContext, Service } from "../context";
import { now } from "../lib/clock";
import { log } from "../lib/log";
import { projectsWithChangedAudiences } from "./definitions";
import { recomputeAudiences } from "./membership";

/**
 * On start, recomputes the audiences of every project whose definitions changed (in the background, in the
 * recompute's short slices, so the server serves meanwhile). A stop ends it between slices; the fingerprint is
 * then not recorded, so the next start does it again.
 */
export function audienceDefinitionsService(ctx: Pick<AppContext, "database" | "config">): Service & { whenIdle(): Promise<void> } {
  let running: Promise<void> | undefined;
  let abort = new AbortController();
  return {
    name: "audience-definitions",
    async start() {
      abort = new AbortController();
      const { signal } = abort;
      running = (async () => {
        for (const project of await projectsWithChangedAudiences(ctx.database, ctx.config)) {
          if (signal.aborted) return;
          const result = await recomputeAudiences(ctx.database, project, now(), { signal });
          log.info("audiences recomputed: their definitions changed", { project: project.id, entered: result.entered, exited: result.exited, ms: result.ms });
        }
      })().catch((error) => log.error("audience recompute after a definition change failed", { error }));
    },
    async whenIdle() {
      await running;
    },
    async stop() {
      abort.abort();
      await running;
    },
  };
}
