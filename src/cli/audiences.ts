import { audienceSizes, recomputeAudiences, resolveAudiences } from "../audiences";
import type { ProjectConfig } from "../config/schema";
import { now } from "../lib/clock";
import { actionOf, CONFIG_HELP, loadForCommand, parseCommandArgs, UsageError, withDatabase, withReadOnlyDatabase, type Command } from "./command";

const USAGE = `vibefollow audiences list [--project ID] [--json]        every audience with its filter kind and size
vibefollow audiences recompute [--project ID] [--json]   recompute membership of every audience now

recompute re-evaluates every audience (defaults and custom) for every user of the project (all projects
unless --project), recording entries and exits — the same pass the hourly evaluator runs.

${CONFIG_HELP}`;

export const audiences: Command = {
  name: "audiences",
  summary: "list audiences and recompute their membership",
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { project: { type: "string" }, json: { type: "boolean" } }, Infinity);
    const action = actionOf("audiences", positionals, { list: 1, recompute: 1 });
    const loaded = loadForCommand(values.config);
    const projects = selectProjects(loaded.config.projects, values.project);
    // `list` only reads: it must not need the write lock, nor migrate or rename anything.
    const open = action === "recompute" ? withDatabase : withReadOnlyDatabase;
    const report = await open(loaded, async (db) => {
      const out = [];
      for (const project of projects) {
        const result = action === "recompute" ? await recomputeAudiences(db, project, now()) : undefined;
        const sizes = new Map((await audienceSizes(db, project.id)).map((s) => [s.audienceId, s.size]));
        const list = resolveAudiences(project).map((a) => ({ id: a.id, name: a.name, default: a.isDefault, size: sizes.get(a.id) ?? 0 }));
        out.push({ project: project.id, audiences: list, ...(result && { recompute: result }) });
      }
      return out;
    });
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return 0;
    }
    for (const p of report) {
      const r = p.recompute;
      console.log(r ? `${p.project}: recomputed ${r.audiences} audiences over ${r.users} users in ${r.ms} ms — ${r.entered} entered, ${r.exited} exited` : `${p.project}:`);
      const width = Math.max(...p.audiences.map((a) => a.id.length));
      for (const a of p.audiences) console.log(`  ${a.id.padEnd(width)}  ${String(a.size).padStart(9)}  ${a.default ? "default" : "custom"}`);
    }
    return 0;
  },
};

function selectProjects(projects: ProjectConfig[], id: string | undefined): ProjectConfig[] {
  if (id === undefined) return projects;
  const project = projects.find((p) => p.id === id);
  if (!project) throw new UsageError(`unknown project "${id}" (known: ${projects.map((p) => p.id).join(", ")})`);
  return [project];
}
