/**
 * Answers to errors: the status of the AuthError's code (the table below) and `{"error": code, "error_description": message}`. A 401 carries
 * `WWW-Authenticate: Bearer error="invalid_token", error_description="..."`, except `token_missing`, which gets
 * a bare `Bearer` challenge (RFC 6750 §3.1: no error code when the request had no token); 400 carries
 * `error="invalid_request"`; 403 `forbidden` carries `error="insufficient_scope"` (and `scope="..."` from a
 * scope guard).
 */
import type { AuthError, AuthErrorCode } from "../../errors.ts"
import { InsufficientScopeError } from "./guards.ts"

/** The HTTP status that answers each code. */
const STATUS: Record<AuthErrorCode, number> = {
  token_missing: 401,
  token_malformed: 401,
  token_invalid: 401,
  token_expired: 401,
  token_not_yet_valid: 401,
  token_revoked: 401,
  wrong_token_type: 401,
  refresh_token_reused: 401,
  session_limit_reached: 403,
  forbidden: 403,
  csrf_failed: 403,
  invalid_request: 400,
  store_unavailable: 503,
}

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
  return { status: STATUS[error.code], headers, body: { error: error.code, error_description: error.message } }
}

function challengeFor(error: AuthError): string | null {
  const description = `error_description="${error.message.replace(NOT_QUOTABLE, "")}"`
  switch (error.code) {
    case "token_missing":
      return "Bearer"
    case "invalid_request":
      return `Bearer error="invalid_request", ${description}`
    case "forbidden":
      return `Bearer error="insufficient_scope", ${description}${error instanceof InsufficientScopeError ? `, scope="${error.scope}"` : ""}`
    default:
      return STATUS[error.code] === 401 ? `Bearer error="invalid_token", ${description}` : null
  }
}
