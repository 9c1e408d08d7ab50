// The provider as openid-client sees it: its discovered configuration, looked up once and looked up again while it
// cannot be reached (one attempt at a time), and what each of openid-client's failures means to the caller.
import * as client from "openid-client"
import { OidcError } from "./errors.ts"

/** Seconds a discovery, or any later request to the provider, may take. */
const TIMEOUT_S = 10

export interface ProviderSettings {
  /** The issuer, or the URL of its discovery document. */
  server: URL
  clientId: string
  clientSecret: string
  clientAuth: "basic" | "post"
}

export function providerConfiguration(settings: ProviderSettings): () => Promise<client.Configuration> {
  let found: client.Configuration | undefined
  let pending: Promise<client.Configuration> | undefined
  const discover = (): Promise<client.Configuration> => {
    pending ??= client
      .discovery(
        settings.server,
        settings.clientId,
        { client_secret: settings.clientSecret },
        settings.clientAuth === "post" ? client.ClientSecretPost(settings.clientSecret) : client.ClientSecretBasic(settings.clientSecret),
        // http is accepted only for a provider on loopback (development, tests): checked at construction.
        { timeout: TIMEOUT_S, ...(settings.server.protocol === "http:" ? { execute: [client.allowInsecureRequests] } : {}) },
      )
      .then(
        (configuration) => (found = configuration),
        (cause: unknown) => {
          pending = undefined
          throw new OidcError("oidc_provider_unavailable", "The sign-in provider cannot be reached; try again later.", { cause })
        },
      )
    return pending
  }
  // Started at once, so that the first sign-in does not wait for it; a failure here is retried by that sign-in.
  discover().catch(() => undefined)
  return async () => found ?? discover()
}

/** What an error of openid-client's callback handling and code exchange means. */
export function callbackFailure(error: unknown): OidcError {
  if (error instanceof OidcError) return error
  if (error instanceof client.AuthorizationResponseError) {
    const message = error.error === "access_denied" ? "The sign-in was cancelled or refused at the provider." : "The provider refused the sign-in."
    return new OidcError("oidc_provider_error", message, { cause: error, providerError: error.error })
  }
  // The provider's own failures, and its being unreachable, are not the caller's fault.
  const unreachable =
    error instanceof TypeError ||
    (error instanceof client.ResponseBodyError && error.status >= 500) ||
    (error instanceof client.ClientError && (error.code === "OAUTH_TIMEOUT" || error.code === "OAUTH_RESPONSE_IS_NOT_CONFORM" || error.code === "OAUTH_RESPONSE_IS_NOT_JSON"))
  if (unreachable) return new OidcError("oidc_provider_unavailable", "The sign-in provider cannot be reached; try again later.", { cause: error })
  if (error instanceof client.ResponseBodyError) {
    return new OidcError("oidc_callback_invalid", "The provider refused the authorization code (expired, already used, or not issued to this sign-in).", {
      cause: error,
      providerError: error.error,
    })
  }
  return new OidcError("oidc_callback_invalid", "The provider's answer failed validation.", { cause: error })
}
