/**
 * What only a server with accounts refuses, beside the library's AuthError codes: a sign-in with wrong
 * credentials, and too many attempts. Answered in the same JSON shape, `{"error", "error_description"}`.
 *
 * @example
 * throw new ServerError("invalid_credentials")      // 401, WWW-Authenticate: Bearer
 * throw new RateLimitedError(30)                    // 429, Retry-After: 30
 */
import type { FastifyReply } from "fastify"

export type ServerErrorCode = "invalid_credentials" | "rate_limited"

const STATUS: Record<ServerErrorCode, number> = { invalid_credentials: 401, rate_limited: 429 }

const DESCRIPTION: Record<ServerErrorCode, string> = {
  invalid_credentials: "Invalid username or password.",
  rate_limited: "Too many attempts; try again later.",
}

export class ServerError extends Error {
  override name = "ServerError"
  readonly code: ServerErrorCode

  constructor(code: ServerErrorCode, message: string = DESCRIPTION[code]) {
    super(message)
    this.code = code
  }
}

/** Carries how long to wait before trying again (`Retry-After`, in seconds). */
export class RateLimitedError extends ServerError {
  readonly retryAfter: number

  constructor(retryAfter: number) {
    super("rate_limited")
    this.retryAfter = retryAfter
  }
}

export function sendServerError(reply: FastifyReply, error: ServerError): FastifyReply {
  // A failed sign-in presented no token: RFC 6750 §3.1's bare challenge, as for a missing token.
  if (error.code === "invalid_credentials") reply.header("www-authenticate", "Bearer")
  if (error instanceof RateLimitedError) reply.header("retry-after", String(error.retryAfter))
  return reply.code(STATUS[error.code]).send({ error: error.code, error_description: error.message })
}
