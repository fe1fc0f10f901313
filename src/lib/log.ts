/**
 * One JSON line per event worth knowing (start, config summary, errors, slow operations) — never per request.
 * Values pass through JSON.stringify, so nothing a client sent can break the line or inject a fake one.
 */
type Level = "debug" | "info" | "warn" | "error";

let quiet = process.env.VIBEFOLLOW_LOG === "silent";

export function setQuiet(value: boolean): void {
  quiet = value;
}

function write(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (quiet && level !== "error") return;
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }, errorReplacer);
  (level === "error" || level === "warn" ? process.stderr : process.stdout).write(line + "\n");
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => process.env.VIBEFOLLOW_DEBUG && write("debug", msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write("info", msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write("warn", msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write("error", msg, fields),
};
