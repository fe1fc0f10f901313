import { Cron } from "croner";
import { z } from "zod";
import { parseDuration } from "../lib/durations";

const DURATION_TEXT = 'a duration like "90s", "15m", "2h", "3d" or "1w"';
/** Ten years: longer is a typo (and past 2^53 ms it is not even a whole number any more). */
const MAX_DURATION_MS = 520 * 604_800_000;

/**
 * A duration string ("15m", "2h", "3d") validated and turned into milliseconds, at most `maxMs`. The bare number
 * 0 is taken too (SPEC §7's table writes `delay`'s default as `0`); any other number is refused, since its unit
 * would be a guess.
 */
const durationUpTo = (maxMs: number, most: string) =>
  z.preprocess(
    (v) => (v === 0 ? "0" : v),
    z
      .string({ error: DURATION_TEXT })
      .refine((s) => parseDuration(s) !== undefined, { error: DURATION_TEXT, abort: true })
      .refine((s) => parseDuration(s)! <= maxMs, { error: `${DURATION_TEXT}, at most ${most}` })
      .transform((s) => parseDuration(s)!),
  );

export const duration = durationUpTo(MAX_DURATION_MS, "520w (ten years)");

/** A duration a timer waits for (a poll interval, a timeout): timers cannot wait longer than 2^31 − 1 ms
 * (about 24.8 days) — a longer one fires after 1 ms, so "30d" would poll a thousand times a second. */
export const timerDuration = durationUpTo(24 * 86_400_000, "24d (a timer waits for it)");

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** A zone name from the IANA database. The runtime also takes bare offsets ("+05:30"), which are not zones: they
 * know no daylight-saving time, so the config refuses them. */
export const timeZone = z
  .string({ error: 'an IANA time zone like "Europe/Berlin"' })
  .refine((tz) => isTimeZone(tz) && !/^[+-]\d/.test(tz), { error: 'an IANA time zone like "Europe/Berlin"' });

/** "HH:MM", 00:00–24:00 (24:00 = end of day), as minutes since midnight. */
export const clockTime = z
  .string({ error: 'a time "HH:MM"' })
  .regex(/^([01]\d|2[0-4]):[0-5]\d$/, { error: 'a time "HH:MM" between 00:00 and 24:00' })
  .refine((s) => s <= "24:00", { error: 'a time "HH:MM" between 00:00 and 24:00' })
  .transform((s) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3)));

export const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

/** An id usable in URLs, SQL values and config keys. */
export const slug = z
  .string({ error: "an id of letters, digits, _ or -" })
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, { error: "an id of 1–64 lower-case letters, digits, _ or - (starting with a letter or digit)" });

export function isCronExpression(text: string): boolean {
  try {
    new Cron(text, { paused: true, timezone: "UTC" });
    return true;
  } catch {
    return false;
  }
}

/** A croner expression ("0 * * * *": minute hour day-of-month month day-of-week, optional leading seconds). */
export const cronExpression = z
  .string({ error: 'a cron expression like "0 * * * *"' })
  .refine(isCronExpression, { error: 'a cron expression like "0 * * * *" (minute hour day month weekday)' });
