import { isTimeZone, WEEKDAYS } from "../config/types";
import { DAY, MINUTE } from "../lib/durations";

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
    });
    formatters.set(tz, f);
  }
  return f;
}

/** The UTC offset (ms) of `tz` at instant `t`, from Intl (a few µs: `offsetAt` caches it). */
function offsetByIntl(t: number, tz: string): number {
  const parts: Record<string, string> = {};
  for (const p of formatter(tz).formatToParts(t)) parts[p.type] = p.value;
  const asUtc = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return asUtc - Math.floor(t / 1000) * 1000;
}

const offsets = new Map<string, number>();

/**
 * The UTC offset (ms) of `tz` at instant `t`. Offsets change only on whole minutes, so one lookup per zone and
 * minute serves every instant in it: a first run's drafts, all made within the same minutes, ask Intl a few times
 * instead of dozens of times each.
 */
function offsetAt(t: number, tz: string): number {
  const minute = Math.floor(t / MINUTE);
  const key = `${tz} ${minute}`;
  let offset = offsets.get(key);
  if (offset === undefined) {
    offset = offsetByIntl(minute * MINUTE, tz);
    if (offsets.size >= 100_000) offsets.clear(); // bounded
    offsets.set(key, offset);
  }
  return offset;
}

/** The wall clock in `tz` at `t`: the UTC fields of `t` shifted by the zone's offset. */
function localDate(t: number, tz: string): LocalDate {
  const d = new Date(t + offsetAt(t, tz));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), weekday: d.getUTCDay(), minutes: d.getUTCHours() * 60 + d.getUTCMinutes() };
}

/**
 * The instants at which the wall clock in `tz` shows this date and minute: one; two in a repeated (fall-back)
 * hour; none in a skipped (spring-forward) one.
 */
function wallInstants(year: number, month: number, day: number, minutes: number, tz: string): number[] {
  const naive = Date.UTC(year, month - 1, day, 0, minutes);
  const found: number[] = [];
  // The offsets a day either side cover any change near this time (changes are months apart).
  for (const offset of new Set([offsetAt(naive - DAY, tz), offsetAt(naive + DAY, tz)])) {
    const at = naive - offset;
    const l = localDate(at, tz);
    if (l.year === year && l.month === month && l.day === day && l.minutes === minutes) found.push(at);
  }
  return found.sort((a, b) => a - b);
}

/** The instants in (from, to] at which `tz`'s UTC offset changes (found by sampling daily, then bisecting). */
function offsetChanges(from: number, to: number, tz: string): number[] {
  const changes: number[] = [];
  let lo = from;
  let before = offsetAt(lo, tz);
  while (lo < to) {
    const next = Math.min(lo + DAY, to);
    const after = offsetAt(next, tz);
    if (after !== before) {
      let [a, b] = [lo, next];
      while (b - a > MINUTE) {
        const mid = a + Math.floor((b - a) / 2);
        if (offsetAt(mid, tz) === before) a = mid;
        else b = mid;
      }
      changes.push(Math.floor(b / MINUTE) * MINUTE); // offsets change on a whole minute, the one in (a, b]
    }
    [lo, before] = [next, after];
  }
  return changes;
}

/**
 * The first instant at or after `t` that lies inside the send window, in the time zone `tz`.
 * Example: a 09:00–18:00 Mon–Fri window, t = Saturday 10:00 Berlin → Monday 09:00 Berlin.
 *
 * The wall clock enters the window at its start, or when it jumps into it: forward over the start (a window
 * opening at 02:30 on a night that skips 02:00–03:00 opens at 03:00) or back into it (a repeated hour opens it
 * again). Both kinds of instant are candidates; the earliest one inside the window wins.
 */
export function nextWindowSlot(t: number, window: SendWindow, tz: string): number {
  const allowed = new Set(window.days.map((d) => WEEKDAYS.indexOf(d)));
  const inside = (at: number) => isInside(at, window, tz, allowed);
  if (inside(t)) return t;
  const here = localDate(t, tz);
  let best = Infinity;
  for (let i = 0; i <= 8 && best === Infinity; i++) {
    // Calendar arithmetic on the local date (UTC-based so that DST does not skip or repeat a day).
    const d = new Date(Date.UTC(here.year, here.month - 1, here.day + i));
    if (!allowed.has(d.getUTCDay())) continue;
    for (const at of wallInstants(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), window.start, tz)) {
      if (at >= t && at < best && inside(at)) best = at;
    }
  }
  for (const at of offsetChanges(t, Math.min(best, t + 9 * DAY), tz)) {
    if (at < best && inside(at)) {
      best = at;
      break;
    }
  }
  return best === Infinity ? t : best; // unreachable with at least one allowed day; kept so the function is total
}

/** True when `t` lies inside the window. */
export function insideWindow(t: number, window: SendWindow, tz: string): boolean {
  return isInside(t, window, tz, new Set(window.days.map((d) => WEEKDAYS.indexOf(d))));
}

function isInside(t: number, window: SendWindow, tz: string, allowed: Set<number>): boolean {
  const l = localDate(t, tz);
  return allowed.has(l.weekday) && l.minutes >= window.start && l.minutes < window.end;
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
