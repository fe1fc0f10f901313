import type { Config } from "../config/schema";
import { enqueueWebhook, enqueueWebhooks } from "./enqueue";
import type { Executor, WebhookEventType } from "./types";

/** What the mail side reports (src/mail/events.ts), seen structurally so this folder does not depend on it. */
type SourceEvent = { type: WebhookEventType; projectId: string; at: number; data: Record<string, unknown> };

/** What the normaliser quarantined (src/pipeline/hooks.ts `OnQuarantine`). */
type QuarantinedItem = {
  id: string;
  projectId: string;
  reason: string;
  detail: string;
  kind: string;
  source: string;
  externalUserId: string | null;
  eventName: string | null;
};

/**
 * The callbacks src/services.ts hands to the sources (`setOnMailEvent`, `setOnQuarantine`). Each runs inside
 * the source's transaction, so the deliveries commit (or roll back) with the change they report.
 */
export function webhookHooks(config: Config) {
  const endpoints = new Map(config.projects.map((p) => [p.id, p.webhooks]));
  return {
    onSourceEvent: async (tx: Executor, e: SourceEvent): Promise<void> => {
      await enqueueWebhook(tx, e.projectId, e.type, e.data, { at: e.at, endpoints: endpoints.get(e.projectId) ?? [] });
    },
    onQuarantine: async (tx: Executor, items: readonly QuarantinedItem[], at: number): Promise<void> => {
      // The payload itself stays out (it may be large, and holds PII): the id leads to it in the dashboard/CLI.
      const byProject = new Map<string, QuarantinedItem[]>();
      for (const item of items) byProject.set(item.projectId, [...(byProject.get(item.projectId) ?? []), item]);
      for (const [projectId, list] of byProject) {
        const events = list.map((q) => ({
          projectId,
          type: "quarantine.added" as const,
          at,
          data: {
            quarantine_id: q.id,
            reason: q.reason,
            detail: q.detail.slice(0, 500),
            kind: q.kind,
            source: q.source,
            external_user_id: q.externalUserId,
            event_name: q.eventName,
          },
        }));
        await enqueueWebhooks(tx, events, endpoints.get(projectId) ?? []);
      }
    },
  };
}
