import { readFileSync } from "node:fs";
import { ApiError } from "../lib/errors";
import { discardQuarantine, listQuarantine, QUARANTINE_REASONS, QUARANTINE_STATES, replayQuarantine, showQuarantine, type QuarantineRecord } from "../pipeline";
import { actionOf, type Command, CONFIG_HELP, loadForCommand, noteUnconfiguredProject, parseCommandArgs, parseLimit, UsageError, withDatabase, withReadOnlyDatabase } from "./command";

const USAGE = `vibefollow quarantine list [--project ID] [--state open|replayed|discarded|all] [--reason CODE] [--limit N] [--json]
vibefollow quarantine show ID [--json]             the item with its payload, verbatim
vibefollow quarantine replay ID [--payload FILE|-]  put it back through the normaliser (optionally edited)
vibefollow quarantine discard ID                   mark it discarded (the record is kept)

Reasons: invalid_payload, invalid_timestamp, ambiguous_key, invalid_property, invalid_trait, unknown_user,
unknown_project, apply_failed (docs/pipeline.md explains each).

  --project ID    only this project's items (list), or refuse items of other projects (show/replay/discard)
${CONFIG_HELP}`;

const iso = (ms: number) => new Date(ms).toISOString();

function summary(r: QuarantineRecord): string {
  const who = r.externalUserId === null ? "" : `  user=${JSON.stringify(r.externalUserId)}`;
  const what = r.eventName === null ? "" : `  event=${JSON.stringify(r.eventName)}`;
  return `${r.id}  ${r.projectId}  ${r.state}  ${r.reason}  ${r.kind}/${r.source}${who}${what}  ${iso(r.createdAt)}`;
}

function readPayload(from: string): string {
  return readFileSync(from === "-" ? 0 : from, "utf8");
}

export const quarantine: Command = {
  name: "quarantine",
  summary: "list, inspect, replay and discard items the normaliser could not apply",
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      project: { type: "string" },
      state: { type: "string" },
      reason: { type: "string" },
      limit: { type: "string" },
      payload: { type: "string" },
      json: { type: "boolean" },
    }, Infinity);
    const action = actionOf("quarantine", positionals, { list: 1, show: 2, replay: 2, discard: 2 });
    const id = positionals[1];
    const loaded = loadForCommand(values.config);
    const project = values.project;
    const out = (value: unknown) => console.log(JSON.stringify(value, null, 2));
    try {
      if (action === "list") {
        noteUnconfiguredProject(loaded.config, project);
        const state = values.state ?? "open";
        if (state !== "all" && !(QUARANTINE_STATES as readonly string[]).includes(state)) throw new UsageError(`--state must be one of ${QUARANTINE_STATES.join(", ")}, all`);
        if (values.reason !== undefined && !(QUARANTINE_REASONS as readonly string[]).includes(values.reason)) {
          throw new UsageError(`--reason must be one of ${QUARANTINE_REASONS.join(", ")}`);
        }
        const limit = parseLimit(values.limit, 100);
        const result = await withReadOnlyDatabase(loaded, (db) =>
          listQuarantine(db, { projectId: project, state: state as QuarantineRecord["state"] | "all", reason: values.reason, limit }),
        );
        if (values.json) return out(result), 0;
        if (result.items.length === 0) console.log("no quarantined items");
        for (const r of result.items) console.log(summary(r));
        if (result.total > result.items.length) console.log(`… ${result.total - result.items.length} more (use --limit)`);
        return 0;
      }
      if (!id) throw new UsageError(`quarantine ${action} needs an ID (see quarantine list)`);
      if (action === "show") {
        const r = await withReadOnlyDatabase(loaded, (db) => showQuarantine(db, id));
        if (!r || (project !== undefined && r.projectId !== project)) throw ApiError.of(404, "not_found", `No quarantined item ${id}.`);
        if (values.json) return out(r), 0;
        console.log(summary(r));
        console.log(`detail:   ${r.detail}`);
        console.log(`received: ${iso(r.receivedAt)}`);
        console.log(`payload:  ${r.payload}`);
        return 0;
      }
      if (action === "replay") {
        const edited = values.payload === undefined ? undefined : readPayload(values.payload);
        const r = await withDatabase(loaded, (db) => replayQuarantine(db, id, edited, project));
        if (values.json) return out(r), 0;
        console.log(`replayed ${id}${edited === undefined ? "" : " with the edited payload"} (queued as #${r.seq})`);
        return 0;
      }
      if (action === "discard") {
        await withDatabase(loaded, (db) => discardQuarantine(db, id, project));
        if (values.json) return out({ id, state: "discarded" }), 0;
        console.log(`discarded ${id}`);
        return 0;
      }
      throw new Error(`unhandled action "${action}"`);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      console.error(`vibefollow quarantine: ${e.message}`);
      return 1;
    }
  },
};
