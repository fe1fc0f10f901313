import { sendsOverSmtp, type Config } from "./schema";

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
  // Real mail carries unsubscribe (and tracking) links built on public_url; the listen address is rarely one a
  // recipient can reach (127.0.0.1, or 0.0.0.0 in a container).
  if (config.server.public_url === undefined && sendsOverSmtp(config)) {
    warnings.push(`server.public_url: not set, so links in emails point at http://${config.server.listen}; set it (or VIBEFOLLOW_PUBLIC_URL) to the address recipients reach`);
  }
  return warnings;
}
