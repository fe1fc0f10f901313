import type { Database } from "../db/client";
import { compileEventCounts, type EventCounts } from "./compile";
import type { Filter } from "./filter";
import type { ResolvedAudience } from "./defaults";

type EventFilter = Extract<Filter, { type: "event" }>;

/** Precomputed counts for one recompute, on the write connection's temp schema. */
export type PreparedCounts = EventCounts & { maxEventId: number; tableNames: string[] };


/** Event conditions with a `where`: the ones that must read event rows, not only the covering index. */
function collectCounted(filter: Filter, out: EventFilter[]): void {
  if (filter.type === "all" || filter.type === "any") filter.filters.forEach((f) => collectCounted(f, out));
  else if (filter.type === "not") collectCounted(filter.filter, out);
  else if (filter.type === "event" && filter.where) out.push(filter);
}

/**
 * Before a whole-project recompute: counts, per user, the events matching each event condition that has a
 * `where`, in one pass per condition over the project's events in time (= arrival = disk) order, into temp
 * tables. The correlated form would read one random event row per event per user — at 10M events that is
 * most of a recompute. Events that arrive after this snapshot (`id > maxEventId`) make their user "fresh":
 * the compiled filter evaluates fresh users with the correlated form, so a count never goes stale.
 * Conditions without `where` stay correlated: `events_user_name_time` covers them.
 */
export async function prepareEventCounts(
  database: Database,
  projectId: string,
  audiences: readonly ResolvedAudience[],
  at: number,
): Promise<PreparedCounts | undefined> {
  const nodes: EventFilter[] = [];
  for (const a of audiences) collectCounted(a.filter, nodes);
  if (nodes.length === 0) return undefined;
  const tables = new Map<Filter, string>();
  const byShape = new Map<string, string>();
  const tableNames: string[] = [];
  let maxEventId = 0;
  try {
    await database.write(async (tx) => {
      const rs = await tx.execute("SELECT ifnull(max(id), 0) AS m FROM events");
      maxEventId = Number(rs.rows[0]!.m);
      for (const node of nodes) {
        // Identical conditions (same name, where and window) share one count table.
        const shape = JSON.stringify({ name: node.name, where: node.where, withinMs: node.withinMs });
        const known = byShape.get(shape);
        if (known) {
          tables.set(node, known);
          continue;
        }
        // Fixed names, emptied rather than dropped: DROP TABLE fails (SQLITE_LOCKED) while libSQL still holds a
        // statement that read the table. Recomputes are serialised, so one set of names is enough.
        const table = `audience_counts_${tableNames.length}`;
        tableNames.push(table);
        byShape.set(shape, table);
        tables.set(node, table);
        await tx.execute(`CREATE TEMP TABLE IF NOT EXISTS "${table}" (user_id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`);
        await tx.execute(`DELETE FROM temp."${table}"`);
        const counts = compileEventCounts(node, projectId, maxEventId, at);
        await tx.execute({ sql: `INSERT INTO temp."${table}" (user_id, n) ${counts.sql}`, args: counts.args });
      }
    });
  } catch (e) {
    await dropEventCounts(database, { tables, maxEventId, tableNames });
    throw e;
  }
  return { tables, maxEventId, tableNames };
}

/** Frees the rows of the count tables (the empty tables stay for the next recompute). */
export async function dropEventCounts(database: Database, counts: PreparedCounts | undefined): Promise<void> {
  for (const table of counts?.tableNames ?? []) await database.execute(`DELETE FROM temp."${table}"`);
}
