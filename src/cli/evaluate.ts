import { createDrafts } from "../drafts";
import { wireHooks } from "../hooks";
import { formatDuration } from "../lib/durations";
import { applyQueued } from "../pipeline";
import { createEvaluator, previewRule } from "../rules";
import { type Command, CONFIG_HELP, loadForCommand, parseCommandArgs, parseLimit, UsageError, withDatabase, withReadOnlyDatabase } from "./command";

export const evaluate: Command = {
  name: "evaluate",
  summary: "run the trigger rules now (or --dry-run, or --preview one rule)",
  usage: `vibefollow evaluate [--dry-run] [--project ID] [--preview RULE_ID [--limit N]] [--config PATH]

Runs every enabled rule of every project once, as the hourly job does: new matches are recorded and become
drafts. Prints the new matches per rule. Safe beside a running server and safe to repeat: a user fires at most
once per occasion.

  --dry-run          evaluate and print, but record nothing (no firings, no drafts, no churn transitions)
  --project ID       only this project
  --preview RULE_ID  list who would match RULE_ID right now (needs --project when there are several)
  --limit N          how many users --preview lists (default 50)
${CONFIG_HELP}`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      "dry-run": { type: "boolean" },
      project: { type: "string" },
      preview: { type: "string" },
      limit: { type: "string" },
    });
    const loaded = loadForCommand(values.config);
    const { config } = loaded;
    if (values.project && !config.projects.some((p) => p.id === values.project)) throw new UsageError(`no project "${values.project}" in the config`);
    // --preview and --dry-run only read: they must not need the write lock, nor migrate or rename anything.
    const open = values.preview || values["dry-run"] ? withReadOnlyDatabase : withDatabase;
    return open(loaded, async (database) => {
      if (values.preview) {
        const candidates = config.projects.filter((p) => !values.project || p.id === values.project);
        if (candidates.length !== 1) throw new UsageError("--preview needs --project ID when the config has several projects");
        const limit = parseLimit(values.limit, 50);
        const preview = await previewRule(database, candidates[0]!, values.preview, undefined, { limit });
        if (!preview) throw new UsageError(`no rule "${values.preview}" in project "${candidates[0]!.id}"`);
        console.log(`${candidates[0]!.id}/${preview.ruleId}${preview.enabled ? "" : " (disabled)"}: ${preview.total} user(s) would match now`);
        for (const m of preview.matches) console.log(`  ${m.externalUserId}\toccasion ${m.occasion}`);
        if (preview.total > preview.matches.length) console.log(`  … and ${preview.total - preview.matches.length} more`);
        return 0;
      }
      // Same wiring as src/services.ts: churn refreshes audiences, matches become drafts (and draft.created webhooks).
      wireHooks(config);
      // Every request acknowledged before this run counts, whether or not a server has applied it yet.
      if (!values["dry-run"]) await applyQueued({ config, database });
      const evaluator = createEvaluator({ config, database }, { onMatches: async (tx, matches) => void (await createDrafts(tx, matches, config)) });
      const result = await evaluator.run({ trigger: "cli", dryRun: values["dry-run"], projectId: values.project });
      for (const r of result.rules) {
        console.log(`${r.project}/${r.rule} (${r.kind}): ${r.matches} new match${r.matches === 1 ? "" : "es"}${r.error ? ` — FAILED: ${r.error}` : ""}`);
      }
      console.log(`${result.dryRun ? "dry run, nothing recorded: " : ""}${result.total} new match(es) in ${formatDuration(result.durationMs)}`);
      return result.status === "ok" ? 0 : 1;
    });
  },
};
