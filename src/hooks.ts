import { refreshMembership } from "./audiences";
import type { Config } from "./config/schema";
import { setAfterApply, setOnQuarantine } from "./pipeline";
import { webhookHooks } from "./webhooks";

/**
 * What follows each normaliser batch, in its transaction: audience membership of the users it touched (SPEC
 * §6) and `quarantine.added` webhooks (SPEC §10). Wired the same wherever batches run — on the main thread
 * (src/services.ts, the CLI) and on the write thread (src/pipeline/thread-step.ts). Returns the webhook hooks
 * for the other sources of webhook events.
 */
export function wirePipelineHooks(config: Config): ReturnType<typeof webhookHooks> {
  const projects = new Map(config.projects.map((p) => [p.id, p]));
  setAfterApply(async (tx, projectId, userIds, at, changes) => {
    const project = projects.get(projectId);
    if (project) await refreshMembership(tx, project, userIds, at, changes);
  });
  const hooks = webhookHooks(config);
  setOnQuarantine(hooks.onQuarantine);
  return hooks;
}
