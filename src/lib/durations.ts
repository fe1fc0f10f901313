/** Durations as written in config: "0", "0s", "90s", "15m", "2h", "3d", "1w" (also "1500ms"). */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DURATION = /^(\d+)(ms|s|m|h|d|w)$/;

export const SECOND = UNIT_MS.s;
export const MINUTE = UNIT_MS.m;
export const HOUR = UNIT_MS.h;
export const DAY = UNIT_MS.d;
export const WEEK = UNIT_MS.w;

/** Parses a duration string to milliseconds; returns `undefined` when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim(); // " 2h" and " 0" alike
  if (trimmed === "0") return 0;
  const m = DURATION.exec(trimmed);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** The shortest exact spelling of a duration: 7200000 → "2h". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  for (const unit of ["w", "d", "h", "m", "s"] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
