// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): once the local session has ended, the browser goes
// to the provider's end_session_endpoint, so that the user's session there ends too. What that needs is kept in the
// browser, sealed, in a cookie the sign-in sets: the provider, the local session, and the ID token, sent back as
// id_token_hint (Okta requires it; with it, other providers know which session to end and may skip asking the user).
// A cookie rather than the store: nothing per session to keep or purge, and the ID token's personal claims never sit
// in the store. Sealed: the browser's scripts and whoever sees the cookie cannot read the ID token.
import * as client from "openid-client"
import type { Provider } from "./providers.ts"
import type { Sealer } from "./seal.ts"

export const LOGOUT_PURPOSE = "logout"
export const LOGOUT_COOKIE = "revocable_oidc_logout"
export const LOGOUT_PATH = "/auth/oidc/logout"

/** What the browser keeps, sealed, for the provider's logout. */
export interface LogoutRecord {
  provider: string
  /** The local session the sign-in made, and its user. */
  sid: string
  sub: string
  /** null when it would make the cookie too large for browsers. */
  idToken: string | null
}

/** Browsers drop a cookie past about 4 KB: an ID token that would not fit is left out (client_id alone names the client). */
const MAX_SEALED = 3800

/** The sealed record for the cookie, or null when the provider offers no end_session_endpoint. */
export async function sealLogout(configuration: client.Configuration, sealer: Sealer, record: LogoutRecord, ttlMs: number): Promise<string | null> {
  if (configuration.serverMetadata().end_session_endpoint === undefined) return null
  const sealed = await sealer.seal(LOGOUT_PURPOSE, record, ttlMs)
  return sealed.length <= MAX_SEALED ? sealed : sealer.seal(LOGOUT_PURPOSE, { ...record, idToken: null }, ttlMs)
}

/** The provider's logout URL (client_id, id_token_hint, post_logout_redirect_uri), or null when it offers none. */
export async function endSessionUrl(provider: Provider, record: LogoutRecord, postLogoutRedirectUri: string): Promise<URL | null> {
  const configuration = await provider.configuration()
  if (configuration.serverMetadata().end_session_endpoint === undefined) return null
  const parameters: Record<string, string> = { post_logout_redirect_uri: postLogoutRedirectUri }
  if (record.idToken !== null) parameters.id_token_hint = record.idToken
  return client.buildEndSessionUrl(configuration, parameters)
}
