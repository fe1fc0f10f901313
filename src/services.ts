import { refreshMembership } from "./audiences";
import type { AppContext } from "./context";
import { createNormaliser, setAfterApply } from "./pipeline";

/**
 * The background loops of the process, in start order (they stop in reverse): each capability adds its own
 * here with one line. Route factories in app.ts may register services too (the ingest writer does).
 */
export function registerServices(ctx: AppContext): void {
  // The normaliser refreshes audience membership of the users each batch touched, in the batch's transaction.
  const projects = new Map(ctx.config.projects.map((p) => [p.id, p]));
  setAfterApply(async (tx, projectId, userIds, at) => {
    const project = projects.get(projectId);
    if (project) await refreshMembership(tx, project, userIds, at);
  });
  ctx.services.push(createNormaliser(ctx));
}
