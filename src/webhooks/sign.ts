import { createHmac } from "node:crypto";

/**
 * The `X-Vibefollow-Signature` value for a body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`
 * keyed with the endpoint's secret — what the SDK's `constructEvent` verifies.
 *
 * @example
 * signBody('{"type":"email.sent",…}', "whsec_…", 1767225600) // "t=1767225600,v1=3f9a…"
 */
export function signBody(body: string, secret: string, timestampSec: number): string {
  const hex = createHmac("sha256", secret).update(`${timestampSec}.${body}`).digest("hex");
  return `t=${timestampSec},v1=${hex}`;
}
