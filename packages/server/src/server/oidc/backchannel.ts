// OpenID Connect Back-Channel Logout 1.0, the receiving end: a provider posts a logout_token when a user's session
// there ends; once validated (§2.6), the local sessions made from that provider session (`sid`), or from every
// session of that user at that provider (`sub` alone), are revoked, which every instance enforces through the
// store's change feed. The token is a JWT checked by jose against the provider's published keys.
import { createHash } from "node:crypto"
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from "jose"
import { AuthError, type Auth } from "revocable"
import type { Identities } from "./identities.ts"
import type { Provider } from "./providers.ts"
import type { Sealer } from "./seal.ts"
import { providerActor } from "../actors.ts"

const LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
/** A logout token older than this is refused: its jti is remembered this long (plus leeway), so a replay is caught. */
const MAX_AGE_S = 300
const LEEWAY_S = 60

export interface LogoutReceiver {
  /** Validates the token and revokes the sessions it names; resolves how many. Throws invalid_request (400). */
  receive(provider: Provider, logoutToken: unknown): Promise<number>
}

export function logoutReceiver(auth: Auth, identities: Identities, sealer: Sealer): LogoutReceiver {
  const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>()

  return {
    async receive(provider, logoutToken) {
      if (typeof logoutToken !== "string" || logoutToken === "") throw invalid("logout_token is required.")
      const configuration = await provider.configuration()
      const metadata = configuration.serverMetadata()
      if (metadata.jwks_uri === undefined) throw invalid("The provider publishes no keys.")
      let keys = keySets.get(provider.settings.name)
      if (keys === undefined) {
        keys = createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: 10_000 })
        keySets.set(provider.settings.name, keys)
      }
      const algorithms = (metadata.id_token_signing_alg_values_supported ?? ["RS256"]).filter((alg) => alg !== "none")
      let claims: JWTPayload
      try {
        ;({ payload: claims } = await jwtVerify(logoutToken, keys, {
          issuer: metadata.issuer,
          audience: provider.settings.clientId,
          algorithms,
          requiredClaims: ["iat", "jti"],
          maxTokenAge: MAX_AGE_S,
          clockTolerance: LEEWAY_S,
        }))
      } catch (error) {
        if (error instanceof joseErrors.JOSEError) throw invalid("The logout token failed validation (signature, iss, aud, iat or jti).", error)
        throw error
      }
      const events = claims.events
      const event = typeof events === "object" && events !== null && !Array.isArray(events) ? (events as Record<string, unknown>)[LOGOUT_EVENT] : undefined
      if (typeof event !== "object" || event === null || Array.isArray(event)) throw invalid(`The logout token's events claim must hold ${LOGOUT_EVENT}.`)
      if (claims.nonce !== undefined) throw invalid("A logout token must not carry a nonce.")
      const sid = typeof claims.sid === "string" && claims.sid !== "" ? claims.sid : undefined
      const sub = typeof claims.sub === "string" && claims.sub !== "" ? claims.sub : undefined
      if (sid === undefined && sub === undefined) throw invalid("The logout token names neither a sid nor a sub.")
      const jti = createHash("sha256").update(String(claims.jti)).digest("base64url")
      const exp = ((claims.iat as number) + MAX_AGE_S + LEEWAY_S) * 1000
      if (!(await sealer.spend(`logout-${provider.settings.name}`, { id: jti, exp }))) throw invalid("This logout token was already used.")

      const sessions = await identities.sessionsOf(metadata.issuer, { ...(sid === undefined ? {} : { sid }), ...(sub === undefined ? {} : { sub }) })
      for (const session of sessions) {
        await auth.revokeSession(session, { reason: "back-channel logout", actor: providerActor(provider.settings.name) })
      }
      return sessions.length
    },
  }
}

function invalid(message: string, cause?: unknown): AuthError {
  return new AuthError("invalid_request", message, { cause, field: "logout_token" })
}
