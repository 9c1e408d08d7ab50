// The Authorization Code flow with PKCE (S256), state and nonce, done by openid-client: the redirect to the
// provider with its transaction sealed in a cookie, and the callback that checks that transaction and lets
// openid-client exchange the code and validate the ID token (signature by the provider's JWKS, iss, aud, azp,
// exp, nonce). This module only maps what fails to a stable code.
import * as client from "openid-client"
import { OidcError } from "./oidc-error.ts"
import type { Provider } from "./providers.ts"
import type { Sealer } from "./seal.ts"

/** What the browser carries between the redirect and the callback, sealed. */
export interface Transaction {
  state: string
  nonce: string
  verifier: string
  /** cookie: the callback sets the auth cookies; code: it hands a one-time code to `returnTo`. */
  mode: "cookie" | "code"
  returnTo: string
  /** code mode: the S256 challenge of the verifier the API client will show with the handoff code. */
  handoffChallenge: string | null
  /** Linking: the signed-in user and session that asked for it. */
  link: { sub: string; sid: string } | null
}

export const TRANSACTION_TTL_MS = 10 * 60_000
export const TRANSACTION_PURPOSE = "tx"

export async function startSignIn(
  provider: Provider,
  sealer: Sealer,
  redirectUri: string,
  intent: Pick<Transaction, "mode" | "returnTo" | "handoffChallenge" | "link">,
): Promise<{ url: URL; sealed: string }> {
  const configuration = await provider.configuration()
  const verifier = client.randomPKCECodeVerifier()
  const transaction: Transaction = { ...intent, state: client.randomState(), nonce: client.randomNonce(), verifier }
  const parameters: Record<string, string> = {
    redirect_uri: redirectUri,
    scope: provider.settings.scopes.join(" "),
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state: transaction.state,
    nonce: transaction.nonce,
  }
  if (provider.settings.hostedDomain !== null) parameters.hd = provider.settings.hostedDomain
  return { url: client.buildAuthorizationUrl(configuration, parameters), sealed: await sealer.seal(TRANSACTION_PURPOSE, transaction, TRANSACTION_TTL_MS) }
}

/** The ID token and its claims once openid-client has validated the callback and the code exchange. */
export async function finishSignIn(
  provider: Provider,
  sealer: Sealer,
  transaction: Transaction & { id: string; exp: number },
  callbackUrl: URL,
): Promise<{ claims: client.IDToken; idToken: string }> {
  // Checked here only to tell a mismatch apart; openid-client checks it again. A forged state spends nothing.
  if (callbackUrl.searchParams.get("state") !== transaction.state) {
    throw new OidcError("oidc_state_mismatch", "The callback's state is not the one this browser's sign-in sent.")
  }
  if (!(await sealer.spend(TRANSACTION_PURPOSE, transaction))) throw new OidcError("oidc_transaction_replayed", "This sign-in was already completed; start again.")
  const configuration = await provider.configuration()
  let claims: client.IDToken | undefined
  let idToken: string | undefined
  try {
    const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
      pkceCodeVerifier: transaction.verifier,
      expectedState: transaction.state,
      expectedNonce: transaction.nonce,
      idTokenExpected: true,
    })
    claims = tokens.claims()
    idToken = tokens.id_token
  } catch (error) {
    throw callbackFailure(provider.settings.name, error)
  }
  if (claims === undefined || idToken === undefined) throw new OidcError("oidc_callback_invalid", "The provider returned no ID token.")
  // Google: hd in the request only picks the account; the ID token must say the domain (Google's own advice).
  const hostedDomain = provider.settings.hostedDomain
  if (hostedDomain !== null && claims.hd !== hostedDomain) {
    throw new OidcError("oidc_callback_invalid", `The account is not one of the ${hostedDomain} domain.`)
  }
  return { claims, idToken }
}

function callbackFailure(name: string, error: unknown): OidcError {
  if (error instanceof client.AuthorizationResponseError) {
    const description = error.error === "access_denied" ? "The sign-in was cancelled or refused at the provider." : `The provider ${name} refused the sign-in.`
    return new OidcError("oidc_provider_error", description, { cause: error, providerError: error.error })
  }
  if (error instanceof OidcError) return error
  // The provider's own failures, and its being unreachable, are not the caller's fault.
  const unreachable =
    error instanceof TypeError ||
    (error instanceof client.ResponseBodyError && error.status >= 500) ||
    (error instanceof client.ClientError && (error.code === "OAUTH_TIMEOUT" || error.code === "OAUTH_RESPONSE_IS_NOT_CONFORM" || error.code === "OAUTH_RESPONSE_IS_NOT_JSON"))
  if (unreachable) return new OidcError("oidc_provider_unavailable", `The sign-in provider ${name} cannot be reached; try again later.`, { cause: error })
  if (error instanceof client.ResponseBodyError) {
    return new OidcError("oidc_callback_invalid", "The provider refused the authorization code (expired, already used, or not issued to this sign-in).", { cause: error, providerError: error.error })
  }
  return new OidcError("oidc_callback_invalid", "The provider's answer failed validation.", { cause: error })
}
