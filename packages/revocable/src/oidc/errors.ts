// How a sign-in fails: an AuthError whose `code` sets the HTTP status as everywhere else in revocable
// (`invalid_request` 400; `store_unavailable` 503 when the provider, a dependency like the store, cannot be
// reached), and whose `reason` says exactly what went wrong, with the same names as the server's sign-in.
import { AuthError } from "../errors.ts"

export type OidcFailure =
  /** The callback came without a sign-in started in this browser, after it expired, or with a forged cookie. */
  | "oidc_transaction_missing"
  /** The callback's sign-in was already completed once: a replay. */
  | "oidc_transaction_replayed"
  /** The callback's `state` is not the one this browser's sign-in sent. */
  | "oidc_state_mismatch"
  /** The provider answered with an error (`access_denied` when the user cancelled); `providerError` holds it. */
  | "oidc_provider_error"
  /** The provider refused the code, or its answer failed validation (ID token signature, iss, aud, nonce, …). */
  | "oidc_callback_invalid"
  /** The provider cannot be reached (discovery, or the code exchange); try again later. */
  | "oidc_provider_unavailable"
  /** The `return_to` of a sign-in is not a path of this application. */
  | "oidc_return_url_refused"

const PLAIN_CODE = /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}$/

export class OidcError extends AuthError {
  override name = "OidcError"
  readonly reason: OidcFailure
  /** For `oidc_provider_error`: the provider's `error` (RFC 6749 §4.1.2.1), when it is a plain code. */
  readonly providerError: string | undefined

  constructor(reason: OidcFailure, message: string, options: { cause?: unknown; providerError?: string | undefined } = {}) {
    super(reason === "oidc_provider_unavailable" ? "store_unavailable" : "invalid_request", message, { cause: options.cause })
    this.reason = reason
    this.providerError = options.providerError !== undefined && PLAIN_CODE.test(options.providerError) ? options.providerError : undefined
  }
}
