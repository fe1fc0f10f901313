import { Cron } from "croner";
import { z } from "zod";
import { parseDuration } from "../lib/durations";

/** A duration string ("15m", "2h", "3d") validated and turned into milliseconds. */
export const duration = z
  .string({ error: 'a duration like "90s", "15m", "2h", "3d" or "1w"' })
  .refine((s) => parseDuration(s) !== undefined, { error: 'a duration like "90s", "15m", "2h", "3d" or "1w"' })
  .transform((s) => parseDuration(s)!);

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const timeZone = z
  .string({ error: 'an IANA time zone like "Europe/Berlin"' })
  .refine(isTimeZone, { error: 'an IANA time zone like "Europe/Berlin"' });

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
