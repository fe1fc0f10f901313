import pkg from "../../package.json" with { type: "json" };
import { parseCommandArgs, type Command } from "./command";

export const VERSION: string = pkg.version;

export const version: Command = {
  name: "version",
  summary: "print the version",
  usage: "vibefollow version\n\nPrints the version of this build.",
  async run(argv) {
    parseCommandArgs(argv, {});
    console.log(`vibefollow ${VERSION} (bun ${Bun.version})`);
    return 0;
  },
};
