import { openDatabase } from "../db/client";
import { migrate as applyMigrations } from "../db/migrate";
import { CONFIG_HELP, loadForCommand, parseCommandArgs, type Command } from "./command";

export const migrate: Command = {
  name: "migrate",
  summary: "apply database migrations (serve does this on start too)",
  usage: `vibefollow migrate [--config PATH]\n\nApplies every migration the database has not seen, each in its own transaction.\n\n${CONFIG_HELP}`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {});
    const loaded = loadForCommand(values.config);
    const database = await openDatabase(loaded.config.database);
    try {
      const applied = await applyMigrations(database);
      console.log(applied.length ? `applied ${applied.length} migration(s): ${applied.join(", ")}` : "database is up to date");
    } finally {
      database.close();
    }
    return 0;
  },
};
