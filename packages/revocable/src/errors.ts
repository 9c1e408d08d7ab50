/**
 * The one error revocable throws for anything a caller or a client did wrong, or a store could not do.
 *
 * Every error has a stable `code` (branch on it, never on the message) and a message that never contains a
 * token, a secret or a password. How a code becomes an HTTP answer (its status, its challenge) is the adapters'
 * business: see `errorAnswer` in revocable/express, revocable/fastify and revocable/hono.
 *
 * @example
 * try {
 *   await auth.verify(token)
 * } catch (err) {
 *   if (err instanceof AuthError && err.code === "token_expired") return refreshAndRetry()
 *   throw err
 * }
 */
export type AuthErrorCode =
  | "token_missing"
  | "token_malformed"
  | "token_invalid"
  | "token_expired"
  | "token_not_yet_valid"
  | "token_revoked"
  | "wrong_token_type"
  | "refresh_token_reused"
  | "session_limit_reached"
  | "forbidden"
  | "csrf_failed"
  | "invalid_request"
  | "store_unavailable"

const DESCRIPTION: Record<AuthErrorCode, string> = {
  token_missing: "No token was presented.",
  token_malformed: "The token is not a well-formed JWS compact serialization.",
  token_invalid: "The token failed validation.",
  token_expired: "The token has expired.",
  token_not_yet_valid: "The token is not valid yet.",
  token_revoked: "The token has been revoked.",
  wrong_token_type: "The token is of the wrong type for this use.",
  refresh_token_reused: "The refresh token was already used; its session has been revoked.",
  session_limit_reached: "The subject has reached its maximum number of sessions.",
  forbidden: "Not allowed.",
  csrf_failed: "The request failed the CSRF check.",
  invalid_request: "The request is invalid.",
  store_unavailable: "The revocation store is unavailable.",
}

/**
 * A token refused for what it is: an answer verify gives as often as it is asked (a flood of forged or revoked
 * tokens included), not a fault to debug. Its error carries no stack trace: V8 builds one at construction by
 * walking the async stack, which costs more than verifying the token (`npm run bench -- verify`, refusals). The
 * code and the message say which check refused it.
 */
const TOKEN_REFUSALS: ReadonlySet<AuthErrorCode> = new Set<AuthErrorCode>(["token_missing", "token_malformed", "token_invalid", "token_expired", "token_not_yet_valid", "token_revoked", "wrong_token_type"])

export class AuthError extends Error {
  override name = "AuthError"
  readonly code: AuthErrorCode
  /** For `invalid_request`: the input at fault ("username", "password", "cursor", ...), when it is one. */
  readonly field: string | undefined

  constructor(code: AuthErrorCode, message: string = DESCRIPTION[code], options?: { cause?: unknown; field?: string }) {
    const stackTraceLimit = Error.stackTraceLimit
    if (TOKEN_REFUSALS.has(code)) Error.stackTraceLimit = 0
    super(message, options)
    Error.stackTraceLimit = stackTraceLimit
    this.code = code
    this.field = options?.field
  }
}

export function isAuthError(value: unknown): value is AuthError {
  return value instanceof AuthError
}
