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
  // A window opening inside the spring-forward gap (02:30 does not exist that night) opens at 03:30 local.
  const night = { start: 150, end: 24 * 60, days: ["sun"] as const };
  expect(iso(nextWindowSlot(at("2026-03-29T00:10:00Z"), night, "Europe/Berlin"))).toBe("2026-03-29T01:30:00.000Z");
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
