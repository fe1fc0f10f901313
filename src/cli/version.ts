import pkg from "../../package.json" with { type: "json" };
import { CONFIG_HELP, parseCommandArgs, type Command } from "./command";

export const VERSION: string = pkg.version;

export const version: Command = {
  name: "version",
  summary: "print the version",
  usage: `vibefollow version [--config PATH]\n\nPrints the version of this build and of the Bun runtime inside it.\n(--config is accepted, as by every command, and not needed.)\n\n${CONFIG_HELP}`,
  async run(argv) {
    parseCommandArgs(argv, {});
    console.log(`vibefollow ${VERSION} (bun ${Bun.version})`);
    return 0;
  },
};
