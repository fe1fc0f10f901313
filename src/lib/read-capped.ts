import { ApiError } from "./errors";

/**
 * A request body read with a size cap, or `undefined` once it is larger. A declared `Content-Length` over the
 * cap is refused before anything is read. A body without one (chunked) is read chunk by chunk and the reading
 * stops at the first byte past the cap — `arrayBuffer()` would buffer it whole, up to the HTTP layer's 64 MiB,
 * and answer only then (so a never-ending chunked upload held its request open until the bare 413 from Bun).
 */
export async function readCapped(request: Request, limit: number): Promise<Uint8Array | undefined> {
  try {
    const declared = request.headers.get("content-length");
    if (declared === null) return await readChunks(request, limit);
    if (Number(declared) > limit) return undefined;
    const bytes = await request.bytes();
    return bytes.byteLength > limit ? undefined : bytes;
  } catch (error) {
    abortedOr(request, error);
  }
}

/**
 * The client hung up (or stalled past the server's idle timeout) before the body's end: its failure, not ours — a
 * 400 no one reads, counted as such, and no error in the log. Any other error is passed on.
 */
function abortedOr(request: Request, error: unknown): never {
  if (request.signal.aborted || (error as Error)?.name === "AbortError") {
    throw ApiError.of(400, "request_aborted", "The request body ended before it was complete.");
  }
  throw error;
}

/** A body without a declared length, read chunk by chunk up to the cap. */
async function readChunks(request: Request, limit: number): Promise<Uint8Array | undefined> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) bytes.set(c, (at += c.byteLength) - c.byteLength);
  return bytes;
}
