/**
 * Answers to errors: the AuthError's status and `{"error": code, "error_description": message}`. A 401 carries
 * `WWW-Authenticate: Bearer error="invalid_token", error_description="..."`, except `token_missing` and
 * `invalid_credentials`, which get a bare `Bearer` challenge (RFC 6750 §3.1: no error code when the request
 * had no token); 400 carries `error="invalid_request"`; 403 `forbidden` carries `error="insufficient_scope"`
 * (and `scope="..."` from a scope guard); 429 carries `Retry-After`.
 */
import { AuthError, RateLimitedError, type AuthErrorCode } from "../../errors.ts"
import { InsufficientScopeError } from "./guards.ts"

const NOT_QUOTABLE = /[^\x20\x21\x23-\x5B\x5D-\x7E]/g

export interface ErrorAnswer {
  status: number
  headers: Record<string, string>
  body: { error: AuthErrorCode; error_description: string }
}

/** The status, headers and JSON body that answer an AuthError, identical in every adapter. */
export function errorAnswer(error: AuthError): ErrorAnswer {
  const headers: Record<string, string> = {}
  const challenge = challengeFor(error)
  if (challenge !== null) headers["www-authenticate"] = challenge
  if (error instanceof RateLimitedError) headers["retry-after"] = String(error.retryAfter)
  return { status: error.status, headers, body: { error: error.code, error_description: error.message } }
}

function challengeFor(error: AuthError): string | null {
  const description = `error_description="${error.message.replace(NOT_QUOTABLE, "")}"`
  switch (error.code) {
    case "token_missing":
    case "invalid_credentials":
      return "Bearer"
    case "invalid_request":
      return `Bearer error="invalid_request", ${description}`
    case "forbidden":
      return `Bearer error="insufficient_scope", ${description}${error instanceof InsufficientScopeError ? `, scope="${error.scope}"` : ""}`
    default:
      return error.status === 401 ? `Bearer error="invalid_token", ${description}` : null
  }
}
