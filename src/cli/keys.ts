import { createKey, KeyVerifier, listKeys, RECHECK_MS, revokeKey } from "../keys/service";
import { actionOf, type Command, CONFIG_HELP, loadForCommand, noteUnconfiguredProject, parseCommandArgs, UsageError, withDatabase, withReadOnlyDatabase } from "./command";

const USAGE = `vibefollow keys create --project ID --name NAME   print a new API key (shown once)
vibefollow keys list [--project ID] [--json]       first 8 / last 4 characters and last use
vibefollow keys revoke KEY_ID|KEY [--project ID]   revoke at once, by id or by the key itself (with --project: only a key of that project)

${CONFIG_HELP}`;

export const keys: Command = {
  name: "keys",
  summary: "create, list and revoke API keys",
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      project: { type: "string" },
      name: { type: "string" },
      json: { type: "boolean" },
    }, Infinity);
    // `keys create backend` (--name forgotten) must not create a key named "unnamed".
    const action = actionOf("keys", positionals, { create: 1, list: 1, revoke: 2 });
    const id = positionals[1];
    const loaded = loadForCommand(values.config);
    const projectIds = loaded.config.projects.map((p) => p.id);
    if (action === "create") {
      const project = values.project ?? (projectIds.length === 1 ? projectIds[0] : undefined);
      if (!project) throw new UsageError("--project is required when the config has several projects");
      if (!projectIds.includes(project)) throw new UsageError(`unknown project "${project}" (known: ${projectIds.join(", ")})`);
      const created = await withDatabase(loaded, (db) => createKey(db, project, values.name ?? "unnamed"));
      console.error(`Created ${created.id} for project "${project}". This is the only time the key is shown:`);
      console.log(created.key);
      return 0;
    }
    if (action === "list") {
      noteUnconfiguredProject(loaded.config, values.project);
      const rows = await withReadOnlyDatabase(loaded, (db) => listKeys(db, values.project));
      if (values.json) {
        console.log(JSON.stringify(rows, null, 2));
        return 0;
      }
      if (rows.length === 0) console.log("no keys");
      for (const r of rows) {
        const used = r.lastUsedAt ? new Date(r.lastUsedAt).toISOString() : "never used";
        const state = r.revokedAt ? `revoked ${new Date(r.revokedAt).toISOString()}` : "active";
        console.log(`${r.id}  ${r.projectId}  ${r.display}  ${JSON.stringify(r.name)}  last used: ${used}  ${state}`);
      }
      return 0;
    }
    if (action === "revoke") {
      if (!id) throw new UsageError("keys revoke needs a KEY_ID (see keys list)");
      // The key itself (all `keys create` printed) names it as well as its id does; it is never echoed back.
      const isSecret = id.startsWith("sk_live_");
      const shown = isSecret ? `${id.slice(0, 16)}…${id.slice(-4)}` : id;
      const revoked = await withDatabase(loaded, async (db) => {
        const keyId = isSecret ? (await new KeyVerifier(db).verify(id))?.keyId : id;
        return keyId !== undefined && (await revokeKey(db, keyId, { projectId: values.project })) ? keyId : undefined;
      });
      if (!revoked) {
        console.error(`no active key ${shown}${values.project === undefined ? "" : ` in project "${values.project}"`}`);
        return 1;
      }
      // A running server re-reads a key it verified at most RECHECK_MS later: returning only after that makes "a
      // request sent after the command returned is refused" hold however fast this process ran.
      await Bun.sleep(RECHECK_MS);
      console.log(`revoked ${revoked}`);
      return 0;
    }
    throw new Error(`unhandled action "${action}"`);
  },
};
