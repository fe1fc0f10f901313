/**
 * The one error type that may reach a client. Domain code throws it; the HTTP layer turns it into the SPEC
 * envelope `{"errors":[{code,message,field?}]}`. Anything else becomes `500 server_error` with no detail.
 */
export type ErrorDetail = { code: string; message: string; field?: string };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly details: ErrorDetail[],
    readonly headers: Record<string, string> = {},
  ) {
    super(details.map((d) => d.message).join("; "));
  }

  static of(status: number, code: string, message: string, field?: string): ApiError {
    return new ApiError(status, [field === undefined ? { code, message } : { code, message, field }]);
  }

  body(): { errors: ErrorDetail[] } {
    return { errors: this.details };
  }
}

/**
 * The answer to any method but POST on a POST-only API path (the ingest API, Segment's): `405` with `Allow`,
 * rather than the `404` of a path that does not exist. No CORS: an `OPTIONS` preflight gets this too.
 */
export function postOnly(): never {
  throw new ApiError(405, [{ code: "method_not_allowed", message: "Only POST is allowed on this path." }], { allow: "POST" });
}
