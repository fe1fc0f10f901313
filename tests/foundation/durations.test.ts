import { expect, test } from "bun:test";
import { formatDuration, parseDuration } from "../../src/lib/durations";

/** SPEC §1: durations are strings like "0s", "90s", "15m", "2h", "3d", "1w". */
test("durations parse in every unit, with surrounding spaces ignored alike, and anything else is not one", () => {
  const cases: [string, number | undefined][] = [
    ["0", 0], ["0s", 0], ["90s", 90_000], ["15m", 900_000], ["2h", 7_200_000], ["3d", 259_200_000], ["1w", 604_800_000], ["1500ms", 1_500],
    [" 2h", 7_200_000], ["2h ", 7_200_000], [" 0", 0], ["0 ", 0],
    ["", undefined], ["2H", undefined], ["1.5h", undefined], ["-5m", undefined], ["2 hours", undefined], ["h", undefined],
  ];
  for (const [text, ms] of cases) expect({ text, ms: parseDuration(text) }).toEqual({ text, ms });
  expect([0, 7_200_000, 604_800_000, 1_500].map(formatDuration)).toEqual(["0s", "2h", "1w", "1500ms"]);
});
