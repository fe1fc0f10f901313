import { closeSync, existsSync, openSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { backupDatabase } from "../ops/backup";
import { CONFIG_HELP, loadForCommand, parseCommandArgs, UsageError, withReadOnlyDatabase, type Command } from "./command";

export const backup: Command = {
  name: "backup",
  summary: "write an online, consistent copy of the database to a new file",
  usage: `vibefollow backup FILE [--config PATH]

Copies the database while the server keeps running (VACUUM INTO: one consistent snapshot; it only reads, so a
server holding the write lock does not hold it up). The copy is written to a hidden temporary file beside FILE
and renamed to FILE once complete, so an interrupted backup never leaves a partial FILE (the temporary files of
a backup to the same FILE that was killed are removed by the next one).
FILE must not exist yet; its directory must. Restore by stopping the server and putting FILE in place of the
database file.

${CONFIG_HELP}`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {}, 1);
    const [file] = positionals;
    if (!file) throw new UsageError("backup needs a FILE");
    // "new/" names a directory: VACUUM INTO would write a file called "new" instead.
    if (/[/\\]$/.test(file)) throw new UsageError(`FILE must name a file, not a directory: "${file}"`);
    const target = resolve(file);
    if (existsSync(target)) throw new Error(`${target} already exists; choose a new file name`);
    const temp = join(dirname(target), `.${basename(target)}.${process.pid}.partial`);
    const loaded = loadForCommand(values.config);
    // Before the first file is made (checkWritable's probe included), so a signal never leaves one behind.
    const stopCleanup = cleanUpOnSignal(temp);
    try {
      checkWritable(temp);
      removeAbandoned(target);
      await withReadOnlyDatabase(loaded, (db) => backupDatabase(db, temp), { anySchema: true });
      // A signal that came during the (synchronous) copy is handled on this turn of the event loop: let it
      // discard the copy before it could be renamed into place.
      await new Promise((done) => setImmediate(done));
      if (existsSync(target)) throw new Error(`${target} appeared while the backup ran; the copy is not kept`);
      renameSync(temp, target);
    } finally {
      removeTemp(temp);
      stopCleanup();
    }
    console.log(`backed up to ${target} (${Bun.file(target).size} bytes)`);
    return 0;
  },
};

/** Creates and removes the temporary file once, so an unwritable or missing directory is one clear line (not
 * SQLite's bare "unable to open database file" after the copy was read). */
function checkWritable(temp: string): void {
  try {
    closeSync(openSync(temp, "wx"));
    rmSync(temp);
  } catch (e) {
    const { code } = e as NodeJS.ErrnoException;
    const why = code === "ENOENT" || code === "ENOTDIR" ? "the directory does not exist" : code === "EACCES" || code === "EPERM" || code === "EROFS" ? "permission denied" : (e as Error).message;
    throw new Error(`cannot write the backup in ${dirname(temp)}: ${why}`);
  }
}

/**
 * Temporary copies of earlier backups to the same FILE whose process is gone (killed with SIGKILL, or the machine
 * went down): each can be as big as the database, and nothing else would ever remove them.
 */
function removeAbandoned(target: string): void {
  const prefix = `.${basename(target)}.`;
  for (const name of readdirSync(dirname(target))) {
    const pid = name.startsWith(prefix) ? /^(\d+)\.partial(-journal)?$/.exec(name.slice(prefix.length))?.[1] : undefined;
    if (pid !== undefined && Number(pid) !== process.pid && !isRunning(Number(pid))) removeTemp(join(dirname(target), name.replace(/-journal$/, "")));
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // alive, someone else's
  }
}

/** The temporary copy and the rollback journal SQLite keeps beside it while writing. */
function removeTemp(temp: string): void {
  for (const file of [temp, `${temp}-journal`]) {
    try {
      rmSync(file, { force: true });
    } catch {
      // Its directory is missing (or not one): there is nothing to remove, and the error to report is another.
    }
  }
}

/**
 * SIGINT/SIGTERM remove the temporary copy before exiting (128 + signal number, as a shell reports it). libSQL
 * runs VACUUM INTO synchronously, so the handler runs once the copy returns; SIGKILL leaves the hidden temporary
 * file behind, never a partial FILE. Returns the function that uninstalls the handlers.
 */
function cleanUpOnSignal(temp: string): () => void {
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = () => {
      removeTemp(temp);
      console.error(`vibefollow backup: interrupted by ${signal}; no backup written`);
      process.exit(signal === "SIGINT" ? 130 : 143);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
