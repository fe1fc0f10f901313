import type { ProjectConfig, WebhookConfig } from "../config/schema";
import { now } from "../lib/clock";
import { newId } from "../lib/ids";
import type { Executor, WebhookEventType } from "./types";

/** One event to fan out to a project's subscribed endpoints. */
export type WebhookEvent = { projectId: string; type: WebhookEventType; data: Record<string, unknown>; at?: number };

/**
 * The endpoints of each project, registered when the webhook service is built (src/services.ts), so that the
 * sources — which know a project id, not the config — can enqueue with one call.
 */
const registry = new Map<string, WebhookConfig[]>();

export function setWebhookEndpoints(projects: readonly ProjectConfig[]): void {
  registry.clear();
  for (const p of projects) registry.set(p.id, p.webhooks);
}

/**
 * Writes one delivery per endpoint of the project subscribed to `type`, through `executor` — pass the
 * transaction of the change that causes the event, so the delivery exists exactly when its cause commits.
 * Returns the delivery ids (`whd_…`; each is also the body's `id`, stable across retries).
 *
 * @example
 * await database.write(async (tx) => {
 *   await markSent(tx, message);
 *   await enqueueWebhook(tx, "acme", "email.sent", { message_id: message.id, email: message.to });
 * });
 */
export async function enqueueWebhook(
  executor: Executor,
  projectId: string,
  type: WebhookEventType,
  data: Record<string, unknown>,
  options: { at?: number; endpoints?: readonly WebhookConfig[] } = {},
): Promise<string[]> {
  return enqueueWebhooks(executor, [{ projectId, type, data, at: options.at }], options.endpoints);
}

/** Several events in one statement (a normaliser batch that quarantined many items). */
export async function enqueueWebhooks(executor: Executor, events: readonly WebhookEvent[], endpoints?: readonly WebhookConfig[]): Promise<string[]> {
  const rows: [string, string, string, string, string, number][] = [];
  for (const event of events) {
    const at = event.at ?? now();
    for (const endpoint of endpoints ?? registry.get(event.projectId) ?? []) {
      if (!endpoint.events.includes(event.type)) continue;
      const id = newId("whd");
      const body = JSON.stringify({ type: event.type, id, created: new Date(at).toISOString(), data: event.data });
      rows.push([id, event.projectId, endpoint.url, event.type, body, at]);
    }
  }
  if (rows.length === 0) return [];
  await executor.execute({
    sql: `INSERT INTO webhook_deliveries (id, project_id, endpoint_url, event_type, body, state, attempts, next_attempt_at, created_at)
          SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, 'pending', 0, j.value ->> 5, j.value ->> 5
          FROM json_each(?) j`,
    args: [JSON.stringify(rows)],
  });
  return rows.map((r) => r[0]);
}
