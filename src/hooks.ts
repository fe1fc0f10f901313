import { refreshMembership } from "./audiences";
import type { Config } from "./config/schema";
import { setOnMailEvent } from "./mail/events";
import { setAfterApply, setOnQuarantine } from "./pipeline";
import { webhookHooks } from "./webhooks";

/**
 * What follows a change in its transaction, wherever it runs — the server (src/services.ts), the CLI
 * (`vibefollow evaluate`) and the write thread (src/pipeline/thread-step.ts): after each normaliser batch, the
 * audience membership of the users it touched (SPEC §6) and `quarantine.added` webhooks; for drafts and mail
 * (`draft.created`, `email.*`), their webhooks (SPEC §10).
 */
export function wireHooks(config: Config): void {
  const projects = new Map(config.projects.map((p) => [p.id, p]));
  setAfterApply(async (tx, projectId, userIds, at, changes) => {
    const project = projects.get(projectId);
    if (project) await refreshMembership(tx, project, userIds, at, changes);
  });
  const hooks = webhookHooks(config);
  setOnQuarantine(hooks.onQuarantine);
  setOnMailEvent(hooks.onSourceEvent);
}
