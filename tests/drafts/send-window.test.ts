import { expect, test } from "bun:test";
import { chooseTimeZone, insideWindow, nextWindowSlot } from "../../src/drafts";

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"] as const;
const office = { start: 9 * 60, end: 18 * 60, days: WEEKDAYS };
const at = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();

test("inside the window a time stays; before it, the same day's opening; after it or on a day off, the next open day", () => {
  expect(iso(nextWindowSlot(at("2026-03-04T12:00:00Z"), office, "Europe/Berlin"))).toBe("2026-03-04T12:00:00.000Z");
  expect(iso(nextWindowSlot(at("2026-03-04T05:00:00Z"), office, "Europe/Berlin"))).toBe("2026-03-04T08:00:00.000Z");
  expect(iso(nextWindowSlot(at("2026-03-04T17:00:00Z"), office, "Europe/Berlin"))).toBe("2026-03-05T08:00:00.000Z"); // 18:00 is closed
  expect(iso(nextWindowSlot(at("2026-03-07T10:00:00Z"), office, "Europe/Berlin"))).toBe("2026-03-09T08:00:00.000Z"); // Saturday
  expect(insideWindow(at("2026-03-04T16:59:59Z"), office, "Europe/Berlin")).toBe(true);
  expect(insideWindow(at("2026-03-04T17:00:00Z"), office, "Europe/Berlin")).toBe(false);
});

test("across daylight-saving changes the window keeps its local hours", () => {
  // Berlin moves to CEST on 2026-03-29: Friday 18:00 CET → Monday 09:00 CEST = 07:00Z.
  expect(iso(nextWindowSlot(at("2026-03-27T17:30:00Z"), office, "Europe/Berlin"))).toBe("2026-03-30T07:00:00.000Z");
  // New York moves to EDT on 2026-03-08: Saturday → Monday 09:00 EDT = 13:00Z.
  expect(iso(nextWindowSlot(at("2026-03-07T20:00:00Z"), office, "America/New_York"))).toBe("2026-03-09T13:00:00.000Z");
  // A window opening inside the spring-forward gap (02:30 does not exist that night) opens when the clock jumps
  // over its start: 03:00 CEST, the first instant whose local time is past 02:30.
  const night = { start: 150, end: 24 * 60, days: ["sun"] as const };
  expect(iso(nextWindowSlot(at("2026-03-29T00:10:00Z"), night, "Europe/Berlin"))).toBe("2026-03-29T01:00:00.000Z");
  // West of UTC alike: New York skips 02:00–03:00 EST on 2026-03-08; a 02:30 window opens at 03:00 EDT = 07:00Z.
  const early = { start: 150, end: 6 * 60, days: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const };
  expect(iso(nextWindowSlot(at("2026-03-07T17:00:00Z"), early, "America/New_York"))).toBe("2026-03-08T07:00:00.000Z");
  // A Sunday-only window in a zone whose Sunday starts at 01:00 (Santiago skips 00:00–01:00 on 2026-09-06): Sunday
  // 01:00 -03, never Saturday 23:00 -04.
  const sundays = { start: 0, end: 24 * 60, days: ["sun"] as const };
  const santiago = nextWindowSlot(at("2026-09-03T15:00:00Z"), sundays, "America/Santiago");
  expect(iso(santiago)).toBe("2026-09-06T04:00:00.000Z");
  expect(insideWindow(santiago, sundays, "America/Santiago")).toBe(true);
  expect(insideWindow(santiago - 1, sundays, "America/Santiago")).toBe(false);
});

test("in a repeated (fall-back) hour the window opens at the first time its local hours come round, either pass", () => {
  // New York repeats 01:00–02:00 on 2026-11-01 (EDT until 06:00Z, then EST). At 01:05 EST (second pass, 06:05Z),
  // a 01:30–02:30 Sunday window opens at 01:30 EST (06:30Z), not a week later.
  const w = { start: 90, end: 150, days: ["sun"] as const };
  expect(iso(nextWindowSlot(at("2026-11-01T06:05:00Z"), w, "America/New_York"))).toBe("2026-11-01T06:30:00.000Z");
  // Berlin repeats 02:00–03:00 on 2026-10-25 (CEST until 01:00Z). At 02:05 CEST a 02:15 window opens at 02:15 CEST.
  const late = { start: 135, end: 300, days: ["sun"] as const };
  expect(iso(nextWindowSlot(at("2026-10-25T00:05:00Z"), late, "Europe/Berlin"))).toBe("2026-10-25T00:15:00.000Z");
  // At 02:33 CEST, past a 01:30–02:30 window, the clock falls back to 02:00 CET at 01:00Z: inside it again.
  const w2 = { start: 90, end: 150, days: ["sun"] as const };
  expect(iso(nextWindowSlot(at("2026-10-25T00:33:00Z"), w2, "Europe/Berlin"))).toBe("2026-10-25T01:00:00.000Z");
});

test("end = 24:00 means end of day, and the zone is the user's when it is a real IANA zone", () => {
  const allDay = { start: 0, end: 24 * 60, days: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const };
  expect(insideWindow(at("2026-03-04T22:59:59Z"), allDay, "Europe/Berlin")).toBe(true); // 23:59:59 local
  expect(chooseTimeZone({ timezone: "Asia/Kolkata" }, "UTC")).toBe("Asia/Kolkata");
  expect(chooseTimeZone({ time_zone: "America/Sao_Paulo" }, "UTC")).toBe("America/Sao_Paulo");
  expect(chooseTimeZone({ timezone: "Not/AZone" }, "Europe/Berlin")).toBe("Europe/Berlin");
  expect(chooseTimeZone({ timezone: 42 }, "Europe/Berlin")).toBe("Europe/Berlin");
  // IANA names without a slash are zones too; a bare UTC offset is not (it knows no daylight-saving time).
  expect(chooseTimeZone({ timezone: "Japan" }, "UTC")).toBe("Japan");
  expect(chooseTimeZone({ tz: "UTC" }, "Europe/Berlin")).toBe("UTC");
  expect(chooseTimeZone({ timezone: "+05:30" }, "Europe/Berlin")).toBe("Europe/Berlin");
  expect(chooseTimeZone({}, "Europe/Berlin")).toBe("Europe/Berlin");
});
