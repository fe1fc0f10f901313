import { gunzipSync } from "node:zlib";
import { invalidJson, parseObject } from "../ingest/body";
import { ApiError } from "../lib/errors";
import { readCapped } from "../lib/read-capped";

/**
 * Segment's limits (SPEC §13): 32 KB per message, 500 KB per batch request. Segment counts KB as 1024 bytes.
 * The shared ingest reader (1 MiB, strict `application/json`) does not fit: Segment-style senders use other
 * content types and may gzip, and the limits are tighter — so the size, encoding and UTF-8 steps live here,
 * while the JSON parsing is the ingest one (`parseObject`), with the same 400 `invalid_json`.
 */
export const MAX_MESSAGE_BYTES = 32 * 1024;
export const MAX_BATCH_BYTES = 500 * 1024;

const decoder = new TextDecoder("utf-8", { fatal: true });

export const tooLarge = (limit: number, field?: string) =>
  ApiError.of(413, "payload_too_large", `Over Segment's limit of ${limit / 1024} KB${field ? " per message" : ""}.`, field);

/**
 * Reads the body as a JSON object: the declared and actual size against `limit` (413), `Content-Encoding: gzip`
 * inflated with the same cap on its output (a small bomb cannot grow past the limit), strict UTF-8 (400).
 */
export async function readSegmentBody(request: Request, limit: number): Promise<Record<string, unknown>> {
  const read = await readCapped(request, limit);
  if (!read) throw tooLarge(limit);
  let bytes: Uint8Array = read;
  const encoding = (request.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (encoding === "gzip" || encoding === "x-gzip") {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: limit });
    } catch (error) {
      if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" || error instanceof RangeError) throw tooLarge(limit);
      throw invalidJson("The body is not valid gzip.");
    }
  } else if (encoding !== "identity") {
    throw ApiError.of(415, "unsupported_media_type", `Content-Encoding "${encoding}" is not supported; send identity or gzip.`);
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw invalidJson("The body is not valid UTF-8.");
  }
  return parseObject(text);
}
