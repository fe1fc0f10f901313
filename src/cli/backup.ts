import { backupDatabase } from "../ops/backup";
import { CONFIG_HELP, loadForCommand, parseCommandArgs, UsageError, withReadOnlyDatabase, type Command } from "./command";

export const backup: Command = {
  name: "backup",
  summary: "write an online, consistent copy of the database to a new file",
  usage: `vibefollow backup FILE [--config PATH]\n\nCopies the database while the server keeps running (VACUUM INTO: one consistent snapshot).\nFILE must not exist yet. Restore by stopping the server and putting FILE in place of the database file.\n\n${CONFIG_HELP}`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {}, 1);
    const [file] = positionals;
    if (!file) throw new UsageError("backup needs a FILE");
    const loaded = loadForCommand(values.config);
    const { path, bytes } = await withReadOnlyDatabase(loaded, (db) => backupDatabase(db, file), { anySchema: true });
    console.log(`backed up to ${path} (${bytes} bytes)`);
    return 0;
  },
};
