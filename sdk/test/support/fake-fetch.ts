import type { FetchLike } from "../../src/index.js";

/** One request as the fake saw it. */
export interface RecordedCall {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: any;
  signal: AbortSignal | undefined;
}

/** What a scripted step does: answer, throw (network failure), or hang until aborted (timeout). */
export type Step = Response | Error | "hang" | ((call: RecordedCall) => Response | Promise<Response>);

/**
 * A fetch that plays `steps` in order (the last one repeats) and records every call, so tests
 * can assert what was sent, how often, and with which headers.
 */
export function fakeFetch(...steps: Step[]): FetchLike & { calls: RecordedCall[] } {
  const calls: RecordedCall[] = [];
  const fn = async (url: string, init: RequestInit): Promise<Response> => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => (headers[key] = value));
    const call: RecordedCall = {
      url,
      method: init.method ?? "GET",
      headers,
      body: typeof init.body === "string" ? JSON.parse(init.body) : undefined,
      signal: init.signal ?? undefined,
    };
    calls.push(call);
    const step = steps[Math.min(calls.length - 1, steps.length - 1)];
    if (step === undefined) throw new Error("fakeFetch: no steps");
    if (step instanceof Error) throw step;
    if (step === "hang") return hang(init.signal ?? undefined);
    if (typeof step === "function") return step(call);
    return step.clone();
  };
  return Object.assign(fn, { calls });
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

export const accepted = () => json(202, { data: { accepted: true } });

export function apiError(status: number, code: string, message = code, field?: string, headers = {}): Response {
  return json(status, { errors: [{ code, message, ...(field ? { field } : {}) }] }, headers);
}

// Behaves like fetch does when its signal aborts.
function hang(signal: AbortSignal | undefined): Promise<Response> {
  return new Promise((_, reject) => {
    signal?.addEventListener("abort", () => reject(new DOMException("This operation was aborted", "AbortError")));
  });
}
