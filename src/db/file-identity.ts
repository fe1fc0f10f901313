import { statSync } from "node:fs";

/**
 * Which file a path names (device and inode), to notice later that it names another one. A process's open
 * connections keep working on a database file that was deleted or replaced (POSIX keeps the old one alive for
 * them), so their writes succeed — into a file nobody will ever open again.
 */
export type FileIdentity = { dev: number; ino: number };

export function fileIdentity(path: string): FileIdentity | undefined {
  try {
    const { dev, ino } = statSync(path);
    return { dev, ino };
  } catch {
    return undefined;
  }
}

/** Whether `path` still names the file `opened` identified, and it is not emptied. */
export function isSameFile(path: string, opened: FileIdentity | undefined): boolean {
  try {
    const now = statSync(path);
    if (opened && (now.dev !== opened.dev || now.ino !== opened.ino)) return false;
    return now.size > 0;
  } catch {
    return false;
  }
}
