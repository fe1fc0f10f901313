import { isTimeZone, WEEKDAYS } from "../config/types";

/** A send window as the config holds it: minutes since local midnight, and allowed weekdays. */
export type SendWindow = { start: number; end: number; days: readonly (typeof WEEKDAYS)[number][] };

type LocalDate = { year: number; month: number; day: number; weekday: number; minutes: number };

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      weekday: "short",
    });
    formatters.set(tz, f);
  }
  return f;
}

function localDate(t: number, tz: string): LocalDate & { seconds: number } {
  const parts: Record<string, string> = {};
  for (const p of formatter(tz).formatToParts(t)) parts[p.type] = p.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    weekday: WEEKDAYS.indexOf(parts.weekday!.toLowerCase().slice(0, 3) as (typeof WEEKDAYS)[number]),
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
    seconds: Number(parts.second) + (t % 1000) / 1000,
  };
}

/** The UTC offset (ms) of `tz` at instant `t`. */
function offsetAt(t: number, tz: string): number {
  const l = localDate(t, tz);
  const asUtc = Date.UTC(l.year, l.month - 1, l.day, 0, l.minutes, Math.floor(l.seconds));
  return asUtc - (t - (t % 1000) + (t % 1000 < 0 ? 1000 : 0));
}

/** The instant when the wall clock in `tz` shows this date and minute (DST gaps move forward, as clocks do). */
function zonedInstant(year: number, month: number, day: number, minutes: number, tz: string): number {
  const naive = Date.UTC(year, month - 1, day, 0, minutes);
  let guess = naive - offsetAt(naive, tz);
  guess = naive - offsetAt(guess, tz);
  return guess;
}

/**
 * The first instant at or after `t` that lies inside the send window, in the time zone `tz`.
 * Example: a 09:00–18:00 Mon–Fri window, t = Saturday 10:00 Berlin → Monday 09:00 Berlin.
 */
export function nextWindowSlot(t: number, window: SendWindow, tz: string): number {
  const allowed = new Set(window.days.map((d) => WEEKDAYS.indexOf(d)));
  const here = localDate(t, tz);
  if (allowed.has(here.weekday) && here.minutes >= window.start && here.minutes < window.end) return t;
  if (allowed.has(here.weekday) && here.minutes < window.start) {
    const at = zonedInstant(here.year, here.month, here.day, window.start, tz);
    if (at >= t) return at;
  }
  for (let i = 1; i <= 8; i++) {
    // Calendar arithmetic on the local date (UTC-based so that DST does not skip or repeat a day).
    const d = new Date(Date.UTC(here.year, here.month - 1, here.day + i));
    const weekday = d.getUTCDay();
    if (!allowed.has(weekday)) continue;
    const at = zonedInstant(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), window.start, tz);
    if (at >= t) return at;
  }
  return t; // unreachable with at least one allowed day; kept so the function is total
}

/** True when `t` lies inside the window. */
export function insideWindow(t: number, window: SendWindow, tz: string): boolean {
  return nextWindowSlot(t, window, tz) === t;
}

/** The user's own zone when the trait holds a valid IANA name, else the project's. */
export function chooseTimeZone(traits: Record<string, unknown>, projectTz: string): string {
  for (const key of ["timezone", "time_zone", "tz"]) {
    const v = traits[key];
    // IANA names without a "/" ("Japan", "Singapore", "UTC") are zones too; a bare offset ("+05:30") is not.
    if (typeof v === "string" && v.length > 0 && v.length < 64 && !/^[+-]\d/.test(v) && isTimeZone(v)) return v;
  }
  return projectTz;
}
