import { audienceDefinitionsService } from "./audiences";
import type { AppContext } from "./context";
import { createDrafts, sendingService } from "./drafts";
import { wireHooks } from "./hooks";
import { createNormaliser } from "./pipeline";
import { retentionService } from "./ops/retention";
import { createEvaluator, evaluatorService } from "./rules";
import { webhookService } from "./webhooks";

/**
 * The background loops of the process, in start order (they stop in reverse): each capability adds its own
 * here with one line. Route factories in app.ts may register services too (the ingest writer does).
 */
export function registerServices(ctx: AppContext): void {
  // The normaliser refreshes audience membership of the users each batch touched, in the batch's transaction;
  // quarantined items, drafts and mail events become webhook deliveries in their cause's transaction (src/hooks.ts).
  wireHooks(ctx.config);
  ctx.services.push(createNormaliser(ctx));
  // Audiences whose definitions changed in the config since their last full recompute: recomputed at start.
  ctx.services.push(audienceDefinitionsService(ctx));
  // Rules on a cron (SPEC §5 step 3): each new match becomes a draft in the transaction that records it.
  const evaluator = createEvaluator(ctx, { onMatches: async (tx, matches) => void (await createDrafts(tx, matches, ctx.config)) });
  ctx.services.push(evaluatorService({ ...ctx, evaluator }));
  // Drafts → deadline → SMTP/outbox (SPEC §8/§9); re-queues messages a crash left `sending` on start.
  ctx.services.push(sendingService(ctx));
  // Outbound webhooks (SPEC §10): delivers what the hooks enqueued.
  ctx.services.push(webhookService(ctx));
  // Daily: delete events past each project's retention_days (SPEC §14).
  ctx.services.push(retentionService(ctx));
}
