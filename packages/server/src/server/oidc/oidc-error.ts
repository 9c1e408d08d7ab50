// What a federated sign-in answers when it fails: a stable code (branch on it, never on the message), the HTTP
// status, and a message that never quotes a token, a code or a cookie.
import type { FastifyReply } from "fastify"

export type OidcErrorCode =
  /** No provider of that name is configured. */
  | "oidc_unknown_provider"
  /** The provider could not be reached or its discovery failed; the server retries. */
  | "oidc_provider_unavailable"
  /** The callback came without a sign-in started in this browser, or after it expired (10 minutes). */
  | "oidc_transaction_missing"
  /** The callback's sign-in was already completed once: a replay. */
  | "oidc_transaction_replayed"
  /** The callback's `state` is not the one this browser's sign-in sent. */
  | "oidc_state_mismatch"
  /** The provider answered with an error (`error=access_denied`, …); `providerError` holds it. */
  | "oidc_provider_error"
  /** The callback or the provider's answer failed validation (code, ID token, nonce, signature, hosted domain). */
  | "oidc_callback_invalid"
  /** The provider asserted no email where one is needed, or the ID token lacks a claim the server needs. */
  | "oidc_claims_missing"
  /** First sign-in with this identity and registration is closed. */
  | "oidc_registration_closed"
  /** The identity is already linked to another local account. */
  | "oidc_identity_taken"
  /** Unlinking the last identity of an account without a password: nothing would sign in to it. */
  | "oidc_last_identity"
  /** The linking session ended before the provider answered. */
  | "oidc_link_expired"
  /** A handoff code that is unknown, expired, spent, or whose verifier does not match. */
  | "oidc_handoff_invalid"
  /** A `return_to` that is neither a path of this server nor one of REVOCABLE_OIDC_RETURN_URLS. */
  | "oidc_return_url_refused"

const STATUS: Record<OidcErrorCode, number> = {
  oidc_unknown_provider: 404,
  oidc_provider_unavailable: 503,
  oidc_transaction_missing: 400,
  oidc_transaction_replayed: 400,
  oidc_state_mismatch: 400,
  oidc_provider_error: 400,
  oidc_callback_invalid: 400,
  oidc_claims_missing: 400,
  oidc_registration_closed: 403,
  oidc_identity_taken: 409,
  oidc_last_identity: 409,
  oidc_link_expired: 401,
  oidc_handoff_invalid: 400,
  oidc_return_url_refused: 400,
}

export class OidcError extends Error {
  override name = "OidcError"
  readonly code: OidcErrorCode
  readonly status: number
  /** For oidc_provider_error: the provider's `error` (RFC 6749 §4.1.2.1), when it is a plain code. */
  readonly providerError: string | undefined

  constructor(code: OidcErrorCode, message: string, options: { cause?: unknown; providerError?: string } = {}) {
    super(message, { cause: options.cause })
    this.code = code
    this.status = STATUS[code]
    this.providerError = options.providerError !== undefined && /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}$/.test(options.providerError) ? options.providerError : undefined
  }
}

export function sendOidcError(reply: FastifyReply, error: OidcError): FastifyReply {
  if (error.code === "oidc_provider_unavailable") reply.header("retry-after", "30")
  return reply
    .code(error.status)
    .header("cache-control", "no-store")
    .send({ error: error.code, error_description: error.message, ...(error.providerError === undefined ? {} : { provider_error: error.providerError }) })
}
