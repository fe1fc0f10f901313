/** One entry of the server's error envelope `{"errors":[{code, message, field?}]}`. */
export interface ApiErrorDetail {
  code: string;
  message: string;
  field?: string;
}

/**
 * Base class of every error the SDK throws. `status` is the HTTP status (0 when no response
 * arrived), `code` the server's machine-readable code (or an SDK code such as `timeout`).
 */
export class VibeFollowError extends Error {
  readonly status: number;
  readonly code: string;
  /** Every entry of the server's error envelope, when there was one. */
  readonly errors: readonly ApiErrorDetail[];

  constructor(message: string, status: number, code: string, errors: readonly ApiErrorDetail[] = []) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.errors = errors;
  }
}

/** 401/403: the API key is missing, malformed or revoked. */
export class AuthError extends VibeFollowError {}

/** 422/409, or thrown by the SDK before any request when input is invalid. `field` names the culprit. */
export class ValidationError extends VibeFollowError {
  readonly field: string | undefined;

  constructor(
    message: string,
    field?: string,
    status = 422,
    code = "validation_failed",
    errors: readonly ApiErrorDetail[] = [],
  ) {
    super(message, status, code, errors);
    this.field = field;
  }
}

/** 429: the project's rate limit (or backfill queue) is full. `retryAfterMs` comes from `Retry-After`. */
export class RateLimitError extends VibeFollowError {
  readonly retryAfterMs: number | undefined;

  constructor(message: string, code: string, retryAfterMs?: number, errors: readonly ApiErrorDetail[] = []) {
    super(message, 429, code, errors);
    this.retryAfterMs = retryAfterMs;
  }
}

/** 5xx: the server failed. Retried automatically before it reaches you. */
export class ServerError extends VibeFollowError {
  /** From `Retry-After`, which a 503 may carry. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, status: number, code: string, errors: readonly ApiErrorDetail[] = [], retryAfterMs?: number) {
    super(message, status, code, errors);
    this.retryAfterMs = retryAfterMs;
  }
}

/** No HTTP response: connection refused or dropped, DNS failure, or timeout (`code: "timeout"`). */
export class NetworkError extends VibeFollowError {
  constructor(message: string, code = "network_error", options?: { cause?: unknown }) {
    super(message, 0, code);
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/**
 * A webhook whose signature header is missing, malformed, wrong or too old. `status` is 400 because
 * that is what your endpoint should answer.
 */
export class WebhookSignatureError extends VibeFollowError {
  constructor(message: string, code: string) {
    super(message, 400, code);
  }
}

/** Builds the right error subclass from a non-2xx response. */
export function errorFromResponse(status: number, body: unknown, retryAfterMs: number | undefined): VibeFollowError {
  const errors = readEnvelope(body);
  const first = errors[0];
  const message = first?.message ?? `HTTP ${status}`;
  if (status === 401 || status === 403) return new AuthError(message, status, first?.code ?? "auth_required", errors);
  if (status === 422 || status === 409) {
    return new ValidationError(message, first?.field, status, first?.code ?? "validation_failed", errors);
  }
  if (status === 429) return new RateLimitError(message, first?.code ?? "rate_limited", retryAfterMs, errors);
  if (status >= 500) return new ServerError(message, status, first?.code ?? "server_error", errors, retryAfterMs);
  return new VibeFollowError(message, status, first?.code ?? "http_error", errors);
}

// Defensive: a proxy in between may answer with HTML or an unrelated JSON shape.
function readEnvelope(body: unknown): ApiErrorDetail[] {
  if (typeof body !== "object" || body === null) return [];
  const list = (body as { errors?: unknown }).errors;
  if (!Array.isArray(list)) return [];
  return list
    .filter((e): e is Record<string, unknown> => typeof e === "object" && e !== null)
    .map((e) => ({
      code: String(e.code ?? "unknown"),
      message: String(e.message ?? ""),
      ...(typeof e.field === "string" ? { field: e.field } : {}),
    }));
}
