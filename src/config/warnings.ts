import type { Config } from "./schema";

/** Shorter webhook secrets are accepted (SPEC §10 sets no length) but warned about. */
const WEBHOOK_SECRET_ADVISED = 16;

/**
 * What a valid config still does unwisely, one line each with its key path: printed by `check-config` and
 * logged at start, never a reason to refuse.
 */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  config.projects.forEach((p, i) =>
    p.webhooks.forEach((w, j) => {
      if (w.secret.length < WEBHOOK_SECRET_ADVISED) {
        warnings.push(`projects[${i}].webhooks[${j}].secret: shorter than ${WEBHOOK_SECRET_ADVISED} characters; a guessable secret lets others forge deliveries`);
      }
    }),
  );
  return warnings;
}
