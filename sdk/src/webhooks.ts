import { createHmac, timingSafeEqual } from "node:crypto";
import { WebhookSignatureError } from "./errors.js";

/** Event types an endpoint can subscribe to (SPEC §10); typed as string too for forward compatibility. */
export type WebhookEventType =
  | "email.sent"
  | "email.opened"
  | "email.clicked"
  | "email.bounced"
  | "email.unsubscribed"
  | "draft.created"
  | "quarantine.added";

/** A verified webhook delivery. `id` stays the same across the server's retries: dedupe on it. */
export interface WebhookEvent<T = Record<string, unknown>> {
  type: WebhookEventType | (string & {});
  id: string;
  created: number | string;
  data: T;
}

export interface ConstructEventOptions {
  /** How old (or how far in the future) `t=` may be, in seconds; replays outside it fail. Default 300. */
  toleranceSec?: number;
  /** Current time in ms; for tests. */
  now?: number;
}

/**
 * Verifies `X-Vibefollow-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` and returns
 * the parsed event. Pass the body exactly as received (string or bytes): re-serialised JSON will not
 * match. Throws WebhookSignatureError when the header is missing, malformed, wrong or too old.
 *
 * @example
 * const event = constructWebhookEvent(rawBody, req.headers["x-vibefollow-signature"], process.env.VF_WEBHOOK_SECRET!);
 */
export function constructWebhookEvent<T = Record<string, unknown>>(
  rawBody: string | Uint8Array,
  signatureHeader: string | string[] | null | undefined,
  secret: string,
  options: ConstructEventOptions = {},
): WebhookEvent<T> {
  const { toleranceSec = 300, now = Date.now() } = options;
  // NaN would compare false with every age and accept any old signature.
  if (!(toleranceSec >= 0)) throw new RangeError(`toleranceSec must be a number >= 0, got ${toleranceSec}`);
  if (!secret) throw new WebhookSignatureError("Webhook secret is empty", "secret_missing");
  const header = Array.isArray(signatureHeader) ? signatureHeader[0] : signatureHeader;
  if (!header) throw new WebhookSignatureError("Missing X-Vibefollow-Signature header", "signature_missing");

  const { timestamp, signatures } = parseHeader(header);
  const body = typeof rawBody === "string" ? Buffer.from(rawBody, "utf8") : Buffer.from(rawBody);
  const expected = createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest();
  // Several v1 values may be present while a secret is being rotated; any match is enough.
  const matched = signatures.some((sig) => sig.length === expected.length && timingSafeEqual(sig, expected));
  if (!matched) throw new WebhookSignatureError("Signature does not match the body and secret", "signature_mismatch");

  // Checked after the signature: `timestamp_expired` then always means a genuine but replayed delivery.
  if (Math.abs(now / 1000 - timestamp) > toleranceSec) {
    throw new WebhookSignatureError(`Signature timestamp is outside the ${toleranceSec}s tolerance`, "timestamp_expired");
  }

  try {
    return JSON.parse(body.toString("utf8")) as WebhookEvent<T>;
  } catch {
    throw new WebhookSignatureError("Signed body is not valid JSON", "invalid_payload");
  }
}

/** The same check bound to a client, as `vf.webhooks.constructEvent(...)`. */
export class Webhooks {
  constructEvent<T = Record<string, unknown>>(
    rawBody: string | Uint8Array,
    signatureHeader: string | string[] | null | undefined,
    secret: string,
    options: ConstructEventOptions = {},
  ): WebhookEvent<T> {
    return constructWebhookEvent<T>(rawBody, signatureHeader, secret, options);
  }
}

/**
 * Signs a body the way the server does — for testing your webhook endpoint.
 *
 * @example
 * const header = signWebhookPayload(body, secret); // "t=1700000000,v1=5f…"
 */
export function signWebhookPayload(rawBody: string, secret: string, timestampSec = Math.floor(Date.now() / 1000)): string {
  const hex = createHmac("sha256", secret).update(`${timestampSec}.${rawBody}`).digest("hex");
  return `t=${timestampSec},v1=${hex}`;
}

function parseHeader(header: string): { timestamp: number; signatures: Buffer[] } {
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t" && /^\d+$/.test(value)) timestamp = Number(value);
    else if (key === "v1" && /^[0-9a-f]+$/i.test(value) && value.length % 2 === 0) signatures.push(Buffer.from(value, "hex"));
  }
  if (timestamp === undefined || signatures.length === 0) {
    throw new WebhookSignatureError("Malformed X-Vibefollow-Signature header (want t=<unix>,v1=<hex>)", "signature_malformed");
  }
  return { timestamp, signatures };
}
