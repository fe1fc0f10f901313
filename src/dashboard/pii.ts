import { escapeInvisibleInJson } from "../lib/html";
import { maskEmail, maskJson, maskName, maskText, type Person } from "./mask";
import { isViewer, type DashboardRequest } from "./request";

/** Email, name and JSON as the session may see them: admins in full, viewers masked (SPEC §11). */
export function shownEmail(req: DashboardRequest, email: string | null | undefined): string {
  return isViewer(req) ? maskEmail(email) : (email ?? "");
}

export function shownName(req: DashboardRequest, name: string | null | undefined): string {
  return isViewer(req) ? maskName(name) : (name ?? "");
}

/**
 * Pretty JSON text of stored JSON (payloads, traits, properties), masked for viewers — with `person`, also their
 * email and names wherever they appear in it; unparsable text as free text.
 */
export function shownJson(req: DashboardRequest, text: string, person?: Person): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return isViewer(req) ? maskText(text, person ?? { email: null, name: null }) : text;
  }
  // Control and bidi characters as JSON escapes, not U+FFFD: a payload edited and replayed keeps them (lib/html.ts).
  return escapeInvisibleInJson(JSON.stringify(isViewer(req) ? maskJson(value, person) : value, null, 2));
}

/**
 * Draft and message text as the session may see it. For viewers, also the recipient's signed links
 * (unsubscribe, tracking): a viewer must not be able to unsubscribe someone by following one.
 */
export function shownText(req: DashboardRequest, text: string, person: Person, html = false): string {
  if (!isViewer(req)) return text;
  return maskText(text, person, html).replace(/\/(u|t\/o|t\/c)\/[A-Za-z0-9._~-]+/g, "/$1/…");
}
