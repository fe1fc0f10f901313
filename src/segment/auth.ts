import type { KeyVerifier } from "../keys/service";
import { ApiError } from "../lib/errors";

/**
 * Segment authenticates with the write key as the HTTP Basic user name (password empty), or `writeKey` in the
 * body. Here the write key is a Vibefollow API key (`sk_live_…`); a Bearer header is accepted too. A key in the
 * header wins; a bad header key is a 401 even if the body carries another key (no guessing which one was meant).
 */
export function keyFromHeader(header: string | null): string | undefined {
  if (header === null) return undefined;
  const basic = /^Basic +([A-Za-z0-9+/=_-]+) *$/i.exec(header);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return colon === -1 ? decoded : decoded.slice(0, colon);
  }
  const bearer = /^Bearer +(\S+) *$/i.exec(header);
  return bearer ? bearer[1] : "";
}

export const authRequired = () =>
  new ApiError(401, [{ code: "auth_required", message: "Send the API key as the HTTP Basic user name, or as writeKey in the body." }], {
    "www-authenticate": 'Basic realm="vibefollow"',
  });

/** The project of a valid key (the key cache, else one verification shared with concurrent requests), else 401. */
export async function authenticateKey(keys: KeyVerifier, key: string | undefined): Promise<string> {
  const verified = key ? await keys.authorize(key) : undefined;
  if (!verified) throw authRequired();
  return verified.projectId;
}
