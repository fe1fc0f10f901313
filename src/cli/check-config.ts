import { ConfigError, loadConfig, resolveConfigPath } from "../config/load";
import { configWarnings } from "../config/warnings";
import { CONFIG_HELP, parseCommandArgs, type Command } from "./command";

export const checkConfig: Command = {
  name: "check-config",
  summary: "validate the config file without starting",
  usage: `vibefollow check-config [--config PATH]\n\nPrints every problem with its key path, what was expected and what was found (exit 2), or a summary and any warnings (exit 0).\n\n${CONFIG_HELP}`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {});
    const path = resolveConfigPath(values.config);
    try {
      const { config, file } = loadConfig(path);
      console.log(`${file ?? "embedded defaults"}: OK — ${config.projects.length} project(s): ${config.projects.map((p) => p.id).join(", ")}`);
      for (const warning of configWarnings(config)) console.log(`warning: ${warning}`);
      return 0;
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(e.message);
        return 2;
      }
      throw e;
    }
  },
};
