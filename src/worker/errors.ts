import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ERROR_CODES, type ErrorCode, type Failure, statusOf } from "../domain/errors";
import { LIMITS } from "../domain/limits";

/** Thrown by handlers to answer with an error envelope; turned into a response in `onError`. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CODES[code].message,
    readonly details?: unknown,
  ) {
    super(message);
  }

  static from(failure: Failure): ApiError {
    return new ApiError(failure.code, failure.message);
  }
}

export interface ErrorEnvelope {
  error: { code: ErrorCode; message: string; requestId: string; details?: unknown };
}

function errorBody(code: ErrorCode, message: string, requestId: string, details?: unknown): ErrorEnvelope {
  return { error: { code, message, requestId, ...(details === undefined ? {} : { details }) } };
}

export function errorResponse(
  c: Context,
  code: ErrorCode,
  message: string = ERROR_CODES[code].message,
  details?: unknown,
) {
  const requestId = (c.get("requestId") as string | undefined) ?? "unknown";
  // A bucket move's freeze lasts a few seconds; the retry re-reads the bucket map.
  if (code === "shard_moving") c.header("Retry-After", String(LIMITS.shardMovingRetryAfterS));
  if (code === "host_keys_unavailable") c.header("Retry-After", String(LIMITS.hostJwksRetryAfterS));
  const lockedUntilMs = (details as { lockedUntilMs?: unknown } | undefined)?.lockedUntilMs;
  if (code === "pin_locked" && typeof lockedUntilMs === "number") {
    c.header("Retry-After", String(Math.max(1, Math.ceil((lockedUntilMs - Date.now()) / 1000))));
  }
  return c.json(errorBody(code, message, requestId, details), statusOf(code) as ContentfulStatusCode);
}
