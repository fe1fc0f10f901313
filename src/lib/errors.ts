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
