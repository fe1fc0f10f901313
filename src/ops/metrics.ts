import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { ingestCounters } from "../ingest/counters";
import { filePathOf } from "../db/client";
import { walBytes, walStats } from "../db/write-thread";
import { DRAFT_STATES, EVALUATOR_RUN_STATES, MESSAGE_STATES, messages } from "../db/schema";
import { normaliserStats, queueStats } from "../pipeline";

/**
 * `GET /metrics` in the Prometheus text format (SPEC §14): ingest counts by endpoint and status, queue depth
 * and lag, normaliser throughput, quarantine size, evaluator duration and matches, drafts by state, sends by
 * outcome. Counters kept in memory are per process since start; the rest is read from the database. Series
 * over known states (drafts, messages, evaluator runs) and configured projects read 0 rather than vanish.
 * The metrics and what they mean: docs/metrics.md.
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

/** Every known value first (so a series reads 0 instead of vanishing), then any other value the rows hold. */
function known(values: readonly string[], found: Iterable<unknown>): string[] {
  return [...new Set([...values, ...[...found].map(String)])];
}

/** Counts of `rows` by the `keys` columns, with every combination of the known values emitted (0 when absent). */
function countsBy(rows: Record<string, unknown>[], keys: { column: string; label: string; values: readonly string[] }[]): Sample[] {
  const n = new Map<string, number>();
  for (const r of rows) n.set(JSON.stringify(keys.map((k) => String(r[k.column]))), Number(r.n));
  let combos: string[][] = [[]];
  for (const k of keys) combos = combos.flatMap((c) => known(k.values, rows.map((r) => r[k.column])).map((v) => [...c, v]));
  return combos.map((c) => ({
    labels: Object.fromEntries(keys.map((k, i) => [k.label, c[i]!])),
    value: n.get(JSON.stringify(c)) ?? 0,
  }));
}

export async function collectMetrics(ctx: AppContext): Promise<Family[]> {
  const queue = await queueStats(ctx.database);
  const projects = ctx.config.projects.map((p) => p.id);
  const quarantineRows = await rows(ctx, "SELECT project_id, count(*) AS n FROM quarantine WHERE state = 'open' GROUP BY project_id");
  const draftStates = await rows(ctx, "SELECT project_id, state, count(*) AS n FROM drafts GROUP BY project_id, state");
  const sends = await rows(ctx, "SELECT project_id, state, transport, count(*) AS n FROM messages WHERE is_test = 0 GROUP BY project_id, state, transport");
  const runs = await rows(ctx, "SELECT status, count(*) AS n FROM evaluator_runs WHERE status <> 'running' GROUP BY status");
  const [lastRun] = await rows(ctx, "SELECT duration_ms, matches, finished_at FROM evaluator_runs WHERE status = 'ok' ORDER BY id DESC LIMIT 1");
  const runMatches: { project: string; rule: string; matches: number }[] = lastRun ? JSON.parse(String(lastRun.matches)) : [];
  const s = normaliserStats;
  const file = filePathOf(ctx.database.url);
  const walPath = file === undefined ? undefined : `${file}-wal`;
  const project = { column: "project_id", label: "project", values: projects };
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
      help: "Queue items the normaliser took, by outcome, since start (each item has exactly one outcome).",
      type: "counter",
      // `quarantined` and `duplicates` in the stats also count buffered events on attach: those are buffer movements.
      samples: Object.entries({
        applied: s.applied,
        buffered: s.buffered,
        quarantined: s.quarantined - s.attachQuarantined,
        duplicates: s.duplicates - s.attachDuplicates,
      }).map(([outcome, value]) => ({ labels: { outcome }, value })),
    },
    { name: "vibefollow_normaliser_items_taken_total", help: "Queue items the normaliser took since start.", type: "counter", samples: [{ value: s.items }] },
    { name: "vibefollow_normaliser_batches_total", help: "Normaliser transactions since start.", type: "counter", samples: [{ value: s.batches }] },
    {
      name: "vibefollow_normaliser_errors_total",
      help: "Normaliser steps that failed (the loop backed off and retried) since start.",
      type: "counter",
      samples: [{ value: s.errors }],
    },
    {
      name: "vibefollow_buffer_events_total",
      help: "Buffered events (waiting for their user) that left the buffer, by outcome, since start.",
      type: "counter",
      samples: Object.entries({
        attached: s.attached,
        duplicates: s.attachDuplicates,
        quarantined: s.attachQuarantined,
        expired: s.expired,
      }).map(([outcome, value]) => ({ labels: { outcome }, value })),
    },
    {
      name: "vibefollow_wal_checkpoints_total",
      help: "WAL checkpoints by the checkpoint thread since start: PASSIVE passes that copied pages, and RESTARTs.",
      type: "counter",
      samples: [{ labels: { mode: "passive" }, value: walStats.passive }, { labels: { mode: "restart" }, value: walStats.restarts }],
    },
    {
      name: "vibefollow_db_file_flushes_total",
      help: "Syncs of the database file after a PASSIVE checkpoint pass since start.",
      type: "counter",
      samples: [{ value: walStats.flushes }],
    },
    {
      name: "vibefollow_wal_size_bytes",
      help: "Size of the database's WAL file.",
      type: "gauge",
      samples: walPath === undefined ? [] : [{ value: walBytes(walPath) }],
    },
    {
      name: "vibefollow_quarantine_open",
      help: "Open quarantine items by project.",
      type: "gauge",
      samples: countsBy(quarantineRows, [project]),
    },
    {
      name: "vibefollow_evaluator_runs_total",
      help: "Finished evaluator runs by status (from evaluator_runs: every process on this database, ever).",
      type: "counter",
      samples: countsBy(runs, [{ column: "status", label: "status", values: EVALUATOR_RUN_STATES.filter((x) => x !== "running") }]),
    },
    {
      name: "vibefollow_evaluator_last_success_timestamp_seconds",
      help: "When the last successful evaluator run finished (Unix time).",
      type: "gauge",
      samples: lastRun ? [{ value: Number(lastRun.finished_at) / 1000 }] : [],
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
      samples: countsBy(draftStates, [project, { column: "state", label: "state", values: DRAFT_STATES }]),
    },
    {
      name: "vibefollow_messages",
      help: "Messages (not tests) by project, outcome and transport.",
      type: "gauge",
      samples: countsBy(sends, [
        project,
        { column: "state", label: "state", values: MESSAGE_STATES },
        { column: "transport", label: "transport", values: messages.transport.enumValues },
      ]),
    },
  ];
}

export function metricsRoutes(ctx: AppContext) {
  return new Elysia({ name: "metrics" }).get("/metrics", async () =>
    new Response(formatMetrics(await collectMetrics(ctx)), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } }),
  );
}
