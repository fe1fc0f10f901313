import { afterEach } from "bun:test";
import { setClock, systemClock } from "../../src/lib/clock";
import { runAfterEachTest } from "./after-each";

// Loaded before every test file (bunfig.toml `[test] preload`): hooks here apply to all files.
afterEach(async () => {
  await runAfterEachTest();
  setClock(systemClock); // no test leaves a moved clock to the next one
});
