import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { ingestCounters } from "../ingest/counters";
import { normaliserStats, queueStats } from "../pipeline";

/**
 * `GET /metrics` in the Prometheus text format (SPEC §14): ingest counts by endpoint and status, queue depth
 * and lag, normaliser throughput, quarantine size, evaluator duration and matches, drafts by state, sends by
 * outcome. Counters kept in memory are per process since start; the rest is read from the database.
 */
type Sample = { labels?: Record<string, string | number>; value: number };
type Family = { name: string; help: string; type: "counter" | "gauge"; samples: Sample[] };

function escapeLabel(value: string | number): string {
  return String(value).replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

export function formatMetrics(families: Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = s.labels && Object.keys(s.labels).length
        ? `{${Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
        : "";
      lines.push(`${f.name}${labels} ${Number.isFinite(s.value) ? s.value : 0}`);
    }
  }
  return lines.join("\n") + "\n";
}

async function rows(ctx: AppContext, sql: string): Promise<Record<string, unknown>[]> {
  return (await ctx.database.read(sql)).rows as unknown as Record<string, unknown>[];
}

export async function collectMetrics(ctx: AppContext): Promise<Family[]> {
  const queue = await queueStats(ctx.database);
  const quarantine = await rows(ctx, "SELECT project_id, count(*) AS n FROM quarantine WHERE state = 'open' GROUP BY project_id");
  const draftStates = await rows(ctx, "SELECT project_id, state, count(*) AS n FROM drafts GROUP BY project_id, state");
  const sends = await rows(ctx, "SELECT project_id, state, transport, count(*) AS n FROM messages WHERE is_test = 0 GROUP BY project_id, state, transport");
  const [lastRun] = await rows(ctx, "SELECT duration_ms, matches, started_at FROM evaluator_runs WHERE status = 'ok' ORDER BY id DESC LIMIT 1");
  const runMatches: { project: string; rule: string; matches: number }[] = lastRun ? JSON.parse(String(lastRun.matches)) : [];
  return [
    {
      name: "vibefollow_ingest_requests_total",
      help: "Ingest API responses by endpoint and status since start.",
      type: "counter",
      samples: ingestCounters.snapshot().map((c) => ({ labels: { endpoint: c.endpoint, status: c.status }, value: c.count })),
    },
    { name: "vibefollow_queue_depth", help: "Items waiting in ingest_queue.", type: "gauge", samples: [{ value: queue.depth }] },
    { name: "vibefollow_queue_lag_seconds", help: "Age of the oldest queued item.", type: "gauge", samples: [{ value: queue.lagMs / 1000 }] },
    {
      name: "vibefollow_normaliser_items_total",
      help: "Queue items the normaliser took, by outcome, since start.",
      type: "counter",
      samples: (["applied", "duplicates", "buffered", "quarantined", "attached", "expired"] as const).map((k) => ({
        labels: { outcome: k },
        value: normaliserStats[k],
      })),
    },
    { name: "vibefollow_normaliser_batches_total", help: "Normaliser transactions since start.", type: "counter", samples: [{ value: normaliserStats.batches }] },
    {
      name: "vibefollow_quarantine_open",
      help: "Open quarantine items by project.",
      type: "gauge",
      samples: quarantine.map((r) => ({ labels: { project: String(r.project_id) }, value: Number(r.n) })),
    },
    {
      name: "vibefollow_evaluator_last_duration_seconds",
      help: "Duration of the last successful evaluator run.",
      type: "gauge",
      samples: lastRun ? [{ value: Number(lastRun.duration_ms) / 1000 }] : [],
    },
    {
      name: "vibefollow_evaluator_last_matches",
      help: "New matches per rule in the last successful evaluator run.",
      type: "gauge",
      samples: runMatches.map((m) => ({ labels: { project: m.project, rule: m.rule }, value: Number(m.matches) })),
    },
    {
      name: "vibefollow_drafts",
      help: "Drafts by project and state.",
      type: "gauge",
      samples: draftStates.map((r) => ({ labels: { project: String(r.project_id), state: String(r.state) }, value: Number(r.n) })),
    },
    {
      name: "vibefollow_messages",
      help: "Messages (not tests) by project, outcome and transport.",
      type: "gauge",
      samples: sends.map((r) => ({
        labels: { project: String(r.project_id), state: String(r.state), transport: String(r.transport) },
        value: Number(r.n),
      })),
    },
  ];
}

export function metricsRoutes(ctx: AppContext) {
  return new Elysia({ name: "metrics" }).get("/metrics", async () =>
    new Response(formatMetrics(await collectMetrics(ctx)), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } }),
  );
}
