import { DRAFT_STATES, type DraftState } from "../db/schema/drafts";
import { approveDraft, draftHistoryOf, getDraft, listDrafts, rejectDraft, rescheduleDraft, type DraftView } from "../drafts";
import { ApiError } from "../lib/errors";
import { parseIsoTimestamp } from "../ingest/rules";
import { actionOf, type Command, CONFIG_HELP, loadForCommand, parseCommandArgs, parseLimit, UsageError, withDatabase, withReadOnlyDatabase } from "./command";

const USAGE = `vibefollow drafts list [--project ID] [--state STATE] [--limit N] [--json]   the review queue, soonest deadline first
vibefollow drafts show DRAFT_ID [--json]                                   content, deadline and history
vibefollow drafts approve DRAFT_ID                                         send at its deadline (or at once if passed)
vibefollow drafts reject DRAFT_ID [--reason TEXT]                          never send it
vibefollow drafts reschedule DRAFT_ID --at ISO_TIME                        move its deadline, e.g. 2026-03-02T14:00:00Z

States: ${DRAFT_STATES.join(", ")}.
  --project ID    only this project's drafts (list), or refuse drafts of other projects (show, approve, reject, reschedule)

${CONFIG_HELP}`;

const iso = (t: number | null) => (t === null ? "-" : new Date(t).toISOString().replace(/:\d\d\.\d{3}Z$/, "Z"));

/** One draft a line. The user is shown by the customer's own id (what their backend and scripts know) and address. */
function line(d: DraftView): string {
  const user = `${d.externalUserId ?? d.userId}${d.email ? ` <${d.email}>` : ""}`;
  return `${d.id}  ${d.projectId}  ${d.state.padEnd(14)}  deadline ${iso(d.deadline)}  ${d.ruleId.padEnd(18)}  ${user}  ${JSON.stringify(d.subject)}`;
}

export const drafts: Command = {
  name: "drafts",
  summary: "review drafts: list, show, approve, reject, reschedule",
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      project: { type: "string" },
      state: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean" },
      reason: { type: "string" },
      at: { type: "string" },
    }, Infinity);
    const action = actionOf("drafts", positionals, { list: 1, show: 2, approve: 2, reject: 2, reschedule: 2 });
    const id = positionals[1];
    const loaded = loadForCommand(values.config);
    const { config } = loaded;
    const needId = () => {
      if (!id) throw new UsageError(`drafts ${action} needs a DRAFT_ID (see drafts list)`);
      return id;
    };
    /** With --project, a draft of another project is not found (as `quarantine show|replay|discard` do). */
    const inProject = (d: DraftView | undefined) => d !== undefined && (values.project === undefined || d.projectId === values.project);
    try {
      if (action === "list") {
        if (values.state && !DRAFT_STATES.includes(values.state as DraftState)) throw new UsageError(`unknown state "${values.state}" (one of ${DRAFT_STATES.join(", ")})`);
        if (values.project && !config.projects.some((p) => p.id === values.project)) throw new UsageError(`unknown project "${values.project}"`);
        const limit = parseLimit(values.limit, 200);
        const rows = await withReadOnlyDatabase(loaded, (db) => listDrafts(db, { projectId: values.project, state: values.state as DraftState | undefined, limit }));
        if (values.json) console.log(JSON.stringify(rows.map(({ html: _html, text: _text, ...rest }) => rest), null, 2));
        else if (rows.length === 0) console.log("no drafts");
        else for (const d of rows) console.log(line(d));
        return 0;
      }
      if (action === "show") {
        const draftId = needId();
        const found = await withReadOnlyDatabase(loaded, async (db) => {
          const d = await getDraft(db, draftId);
          return d && { draft: d, history: await draftHistoryOf(db, draftId) };
        });
        if (!found || !inProject(found.draft)) throw ApiError.of(404, "not_found", `no draft ${draftId}`);
        if (values.json) {
          console.log(JSON.stringify(found, null, 2));
          return 0;
        }
        const d = found.draft;
        console.log(`${d.id}  ${d.state}${d.reason ? ` (${d.reason})` : ""}
project ${d.projectId}  rule ${d.ruleId} (${d.ruleKind})  occasion ${d.occasion}
to ${d.email ?? "-"} (user ${d.externalUserId ?? d.userId})  time zone ${d.timeZone}
created ${iso(d.createdAt)}  deadline ${iso(d.deadline)}  send at ${iso(d.sendAt)}  ${d.autopilot ? "autopilot" : "review"}  made by ${d.source}${d.drafting === "pending" ? " (model rewrite pending)" : ""}

Subject: ${d.subject}

${d.text}

History:`);
        for (const h of found.history) console.log(`  ${iso(h.at)}  ${h.from ?? "-"} → ${h.to}  by ${h.actor}${h.note ? `  ${h.note}` : ""}`);
        return 0;
      }
      if (action === "approve" || action === "reject" || action === "reschedule") {
        const draftId = needId();
        let at: number | undefined;
        if (action === "reschedule") {
          if (!values.at) throw new UsageError("drafts reschedule needs --at ISO_TIME");
          // The ingest API's parser: a time without a zone is UTC, as everywhere in Vibefollow (Date.parse would
          // read it in this machine's zone), and an impossible date is refused rather than rolled over.
          at = parseIsoTimestamp(values.at);
          if (at === undefined) throw new UsageError(`--at must be an ISO 8601 time such as 2026-03-02T14:00:00Z (no zone means UTC), got "${values.at}"`);
        }
        const d = await withDatabase(loaded, async (db) => {
          if (!inProject(await getDraft(db, draftId))) throw ApiError.of(404, "not_found", `no draft ${draftId}`);
          return action === "approve"
            ? approveDraft(db, config, draftId, "cli")
            : action === "reject"
              ? rejectDraft(db, draftId, "cli", values.reason)
              : rescheduleDraft(db, draftId, at!, "cli");
        });
        if (values.json) console.log(JSON.stringify(d, null, 2));
        else console.log(`${d.id}  ${d.state}  deadline ${iso(d.deadline)}  send at ${iso(d.sendAt)}`);
        return 0;
      }
    } catch (e) {
      if (e instanceof ApiError) {
        console.error(`vibefollow drafts ${action}: ${e.message}`);
        return 1;
      }
      throw e;
    }
    throw new Error(`unhandled action "${action}"`);
  },
};
