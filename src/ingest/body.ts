import { isUtf8 } from "node:buffer";
import { ApiError } from "../lib/errors";
import { readCapped } from "../lib/read-capped";
import { hasLoneSurrogate } from "./rules";

/**
 * Reading a request body ourselves (not through the framework) so that the limits are ours: the content type,
 * 1 MiB, strict UTF-8 (a body with invalid bytes is refused rather than silently "repaired" with U+FFFD, which
 * would store something the client never sent), and an object at the top.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

// Validating with `isUtf8` (SIMD) and then decoding is ~30× faster than a `fatal` TextDecoder.
const decoder = new TextDecoder("utf-8");

/** `application/json`, optionally with `charset=utf-8`; anything else is 415. */
export function isJsonContentType(header: string | null): boolean {
  if (!header) return false;
  const semi = header.indexOf(";");
  const type = (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
  if (type !== "application/json") return false;
  if (semi === -1) return true;
  const charset = /(?:^|;)\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(header.slice(semi));
  return !charset || charset[1]!.toLowerCase() === "utf-8" || charset[1]!.toLowerCase() === "utf8";
}

export const tooLarge = () => ApiError.of(413, "payload_too_large", `The body is larger than ${MAX_BODY_BYTES} bytes (1 MiB).`);
export const invalidJson = (message = "The body is not valid JSON.") => ApiError.of(400, "invalid_json", message);

/** Reads the raw body: checks the content type (415) and size (413) and decodes strict UTF-8 (400). */
export async function readBody(request: Request): Promise<{ text: string; bytes: Uint8Array }> {
  if (!isJsonContentType(request.headers.get("content-type"))) {
    throw ApiError.of(415, "unsupported_media_type", "Send the body as Content-Type: application/json (UTF-8).");
  }
  // Bodies are read as sent: a compressed one would only fail later as "not valid UTF-8" (or, under a
  // mislabelled header, be taken for what it is not).
  const encoding = request.headers.get("content-encoding");
  if (encoding !== null && encoding.trim().toLowerCase() !== "identity") {
    throw ApiError.of(415, "unsupported_media_type", `Content-Encoding "${encoding.slice(0, 50)}" is not supported here; send the JSON uncompressed.`);
  }
  const bytes = await readCapped(request, MAX_BODY_BYTES);
  if (!bytes) throw tooLarge();
  if (!isUtf8(bytes)) throw invalidJson("The body is not valid UTF-8.");
  return { text: decoder.decode(bytes), bytes };
}

/**
 * Parses the body as a JSON object. Duplicate keys follow JSON.parse (the last one wins). The stored payload is
 * the client's text, duplicates included (SPEC §2, endpoints.ts), and the normaliser reads it with JSON.parse too:
 * the value it applies is the one validated here. `__proto__` becomes an own data property, never the prototype.
 */
export function parseObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidJson();
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalidJson("The body must be a JSON object.");
  if (hasLoneSurrogate(text, value)) throw invalidJson("The body holds a lone UTF-16 surrogate escape (such as \\ud800), which is not valid Unicode text.");
  return value as Record<string, unknown>;
}
