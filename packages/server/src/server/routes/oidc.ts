// Sign-in with OpenID Connect providers, registered under /auth/oidc (docs/oidc.md):
//   GET  /                              the configured providers
//   GET  /:provider                     redirect to the provider (cookie mode, or code mode for API clients)
//   POST /:provider/link                signed in: link an identity of that provider to this account
//   GET  /:provider/callback            the provider's redirect back: cookies set, or a handoff code handed on
//   POST /handoff                       code mode: a handoff code and its verifier for the token pair
//   POST /:provider/backchannel-logout  the provider's logout_token revokes the sessions it made
//   GET  /logout                        RP-initiated logout: the local session ends, then the provider's
import { createHash, timingSafeEqual } from "node:crypto"
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import type { FastifyError, FastifyRequest } from "fastify"
import { Type } from "typebox"
import { AuthError, isAuthError } from "revocable"
import { clearAuthCookies, setAuthCookies } from "revocable/fastify"
import { prefersHtml } from "../console.ts"
import { BEARER } from "../docs.ts"
import { errorHandler } from "../failures.ts"
import { FORM, parseForm } from "../forms.ts"
import { noStore, pairBody } from "../login.ts"
import * as schemas from "../schemas.ts"
import { claimsOf, type Services } from "../services.ts"
import { logoutReceiver } from "../oidc/backchannel.ts"
import { OidcError, sendOidcError } from "../oidc/oidc-error.ts"
import { finishSignIn, startSignIn, TRANSACTION_PURPOSE, TRANSACTION_TTL_MS, type Transaction } from "../oidc/flow.ts"
import { identityDirectory, type IdentityKey } from "../oidc/identities.ts"
import { endSessionUrl, LOGOUT_COOKIE, LOGOUT_PATH, LOGOUT_PURPOSE, sealLogout, type LogoutRecord } from "../oidc/logout.ts"
import { providerRegistry, type Provider } from "../oidc/providers.ts"
import { sealer as makeSealer } from "../oidc/seal.ts"
import { issueFederated } from "../oidc/signin.ts"

export type OidcRoutesOptions = Pick<Services, "auth" | "users" | "store" | "config" | "cookies" | "bearer" | "audit">

const COOKIE = "revocable_oidc"
const HANDOFF_PURPOSE = "handoff"
const HANDOFF_TTL_MS = 60_000
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/
const ProviderParams = Type.Object({ provider: Type.String({ maxLength: 64 }) })
const StartQuery = Type.Object({
  mode: Type.Optional(Type.Union([Type.Literal("cookie"), Type.Literal("code")], { description: "cookie (default): browsers; code: API clients, see POST /auth/oidc/handoff." })),
  return_to: Type.Optional(Type.String({ maxLength: 2048, description: "A path of this server, or one of REVOCABLE_OIDC_RETURN_URLS (required in code mode)." })),
  code_challenge: Type.Optional(Type.String({ maxLength: 128, description: "Code mode: base64url(SHA-256(code_verifier)), shown again with the handoff code." })),
  code_challenge_method: Type.Optional(Type.Literal("S256")),
})
const OidcErrorBody = Type.Object({ error: Type.String(), error_description: Type.String(), provider_error: Type.Optional(Type.String()) })
const Redirect = Type.Null({ description: "A redirect (Location)." })

interface Handoff extends IdentityKey {
  provider: string
  providerSid: string | null
  challenge: string
}

export const oidcRoutes: FastifyPluginAsyncTypebox<OidcRoutesOptions> = async (app, services) => {
  const { auth, users, store, config, cookies } = services
  const tags = ["oidc"]
  const providers = providerRegistry(config.oidc.providers, app.log)
  const sealer = makeSealer(store)
  const identities = identityDirectory(store, users, auth, config.registration)
  const receiver = logoutReceiver(auth, identities, sealer)

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof OidcError) {
      request.log.info({ code: error.code, reason: error.cause instanceof Error ? error.cause.message : undefined }, "federated sign-in refused")
    }
    // A browser that followed a sign-in link lands on the console, which says what failed, instead of on JSON.
    // Only the code travels: the console words it, so a crafted link cannot put words on the console.
    if (request.method === "GET" && prefersHtml(request.headers.accept) && (error instanceof OidcError || isAuthError(error))) {
      return noStore(reply).redirect(`${config.issuer}/#/account?error=${encodeURIComponent(error.code)}`, 303)
    }
    if (error instanceof OidcError) return sendOidcError(reply, error)
    return errorHandler(error as FastifyError, request, reply)
  })

  // The back-channel logout request is a form post (Back-Channel Logout 1.0 §2.5); a repeated parameter is refused.
  app.addContentTypeParser(FORM, { parseAs: "string" }, parseForm)

  const providerOf = (name: string): Provider => {
    const provider = providers.get(name)
    if (provider === undefined) throw new OidcError("oidc_unknown_provider", "No sign-in provider of that name is configured: GET /auth/oidc lists them.")
    return provider
  }
  const redirectUri = (provider: Provider) => `${config.issuer}/auth/oidc/${provider.settings.name}/callback`
  const secure = cookies.secure === false ? "" : "; Secure"
  const transactionCookie = (provider: Provider, value: string, maxAgeS: number) =>
    `${COOKIE}=${value}; Max-Age=${maxAgeS}; Path=/auth/oidc/${provider.settings.name}/callback; HttpOnly; SameSite=Lax${secure}`
  // Strict: another site cannot send the browser through a provider logout.
  const logoutCookie = (value: string, maxAgeS: number) => `${LOGOUT_COOKIE}=${value}; Max-Age=${maxAgeS}; Path=${LOGOUT_PATH}; HttpOnly; SameSite=Strict${secure}`

  const checkedReturn = (returnTo: string | undefined, mode: Transaction["mode"]): string => {
    if (returnTo === undefined && mode === "cookie") return "/"
    if (returnTo !== undefined && config.oidc.returnUrls.includes(returnTo)) return returnTo
    // A path of this server; never "//host" or "/\host", which browsers read as another host.
    if (returnTo !== undefined && mode === "cookie" && /^\/(?![/\\])[\x21-\x7E]*$/.test(returnTo)) return returnTo
    throw new OidcError("oidc_return_url_refused", mode === "code" ? "Code mode needs a return_to listed in REVOCABLE_OIDC_RETURN_URLS." : "return_to must be a path of this server or one of REVOCABLE_OIDC_RETURN_URLS.")
  }

  app.get("/", {
    schema: {
      summary: "The OpenID Connect providers users may sign in with.",
      tags,
      response: { 200: Type.Object({ providers: Type.Array(Type.Object({ name: Type.String(), sign_in_url: Type.String() })) }) },
    },
    handler: async () => ({ providers: [...providers.keys()].map((name) => ({ name, sign_in_url: `/auth/oidc/${name}` })) }),
  })

  app.get("/:provider", {
    schema: {
      summary: "Sign in with a provider: a redirect to it (Authorization Code, PKCE S256, state, nonce).",
      tags,
      params: ProviderParams,
      querystring: StartQuery,
      response: { 303: Redirect, 400: OidcErrorBody, 404: OidcErrorBody, 503: OidcErrorBody },
    },
    async handler(request, reply) {
      const provider = providerOf(request.params.provider)
      const mode = request.query.mode ?? "cookie"
      const returnTo = checkedReturn(request.query.return_to, mode)
      let handoffChallenge: string | null = null
      if (mode === "code") {
        const challenge = request.query.code_challenge
        if (challenge === undefined || !CHALLENGE.test(challenge) || request.query.code_challenge_method !== "S256") {
          throw new OidcError("oidc_handoff_invalid", "Code mode needs code_challenge (base64url SHA-256 of a verifier) and code_challenge_method=S256.")
        }
        handoffChallenge = challenge
      }
      const { url, sealed } = await startSignIn(provider, sealer, redirectUri(provider), { mode, returnTo, handoffChallenge, link: null })
      return noStore(reply).header("set-cookie", transactionCookie(provider, sealed, TRANSACTION_TTL_MS / 1000)).redirect(url.href, 303)
    },
  })

  app.post("/:provider/link", {
    onRequest: services.bearer,
    schema: {
      summary: "Signed in: link an identity at this provider to this account; answers the provider URL to go to.",
      tags,
      security: BEARER,
      params: ProviderParams,
      body: Type.Object({ return_to: Type.Optional(Type.String({ maxLength: 2048 })) }),
      response: { 200: Type.Object({ authorization_url: Type.String() }), 400: OidcErrorBody, 401: schemas.ErrorBody, 403: schemas.ErrorBody, 404: OidcErrorBody, 503: OidcErrorBody },
    },
    async handler(request, reply) {
      const claims = claimsOf(request)
      const provider = providerOf(request.params.provider)
      const returnTo = checkedReturn(request.body.return_to, "cookie")
      const { url, sealed } = await startSignIn(provider, sealer, redirectUri(provider), { mode: "cookie", returnTo, handoffChallenge: null, link: { sub: claims.sub, sid: claims.sid } })
      noStore(reply).header("set-cookie", transactionCookie(provider, sealed, TRANSACTION_TTL_MS / 1000))
      return { authorization_url: url.href }
    },
  })

  app.get("/:provider/callback", {
    schema: {
      summary: "The provider's redirect back: cookie mode sets the auth cookies, code mode hands a one-time code to return_to.",
      tags,
      params: ProviderParams,
      response: { 303: Redirect, 400: OidcErrorBody, 401: OidcErrorBody, 403: OidcErrorBody, 404: OidcErrorBody, 409: OidcErrorBody, 503: OidcErrorBody },
    },
    async handler(request, reply) {
      const provider = providerOf(request.params.provider)
      noStore(reply).header("set-cookie", transactionCookie(provider, "", 0))
      const transaction = await openTransaction(request)
      try {
        if (transaction === null) throw new OidcError("oidc_transaction_missing", "No sign-in was started in this browser, or it expired: start again.")
        const query = request.url.indexOf("?")
        const callbackUrl = new URL(redirectUri(provider) + (query < 0 ? "" : request.url.slice(query)))
        const { claims, idToken } = await finishSignIn(provider, sealer, transaction, callbackUrl)
        const { user, identity } = await identities.resolve(provider.settings, claims, transaction.link)
        const providerSid = typeof claims.sid === "string" && claims.sid !== "" ? claims.sid : null
        if (transaction.mode === "code") {
          const handoff: Handoff = { ...identity, provider: provider.settings.name, providerSid, challenge: transaction.handoffChallenge ?? "" }
          const code = await sealer.seal(HANDOFF_PURPOSE, handoff, HANDOFF_TTL_MS)
          return reply.redirect(withParameters(transaction.returnTo, { code }), 303)
        }
        const pair = await issueFederated({ auth, users, identities, audit: services.audit, store }, user, identity, providerSid, request)
        setAuthCookies(reply, pair, cookies)
        const record: LogoutRecord = { provider: provider.settings.name, sid: pair.sessionId, sub: user.sub, idToken }
        const logout = await sealLogout(await provider.configuration(), sealer, record, config.sessionTtlMs)
        if (logout !== null) reply.header("set-cookie", logoutCookie(logout, Math.floor(config.sessionTtlMs / 1000)))
        return reply.redirect(transaction.returnTo, 303)
      } catch (error) {
        // Code mode: the API client learns the outcome at its own URL, not on a page of ours.
        if (transaction?.mode !== "code" || !(error instanceof OidcError || isAuthError(error))) throw error
        request.log.info({ code: error.code }, "federated sign-in refused")
        return reply.redirect(withParameters(transaction.returnTo, { error: error.code, error_description: error.message }), 303)
      }
    },
  })

  app.post("/handoff", {
    schema: {
      summary: "Code mode: trade the one-time code handed to return_to, with its code_verifier, for a token pair.",
      tags,
      body: Type.Object({ code: Type.String({ maxLength: 8192 }), code_verifier: Type.String({ maxLength: 128 }) }),
      response: { 200: schemas.TokenPair, 400: OidcErrorBody, 403: schemas.ErrorBody, 503: schemas.ErrorBody },
    },
    async handler(request, reply) {
      const handoff = await sealer.open<Handoff & { exp: number }>(HANDOFF_PURPOSE, request.body.code)
      const shown = createHash("sha256").update(request.body.code_verifier).digest()
      const expected = handoff === null ? null : Buffer.from(handoff.challenge, "base64url")
      if (handoff === null || expected === null || expected.length !== shown.length || !timingSafeEqual(expected, shown) || !(await sealer.spend(HANDOFF_PURPOSE, handoff))) {
        throw new OidcError("oidc_handoff_invalid", "The handoff code is unknown, expired or spent, or the code_verifier does not match it.")
      }
      const user = await users.get(handoff.userSub)
      if (user === null) throw new OidcError("oidc_handoff_invalid", "The account of this handoff code no longer exists.")
      const pair = await issueFederated({ auth, users, identities, audit: services.audit, store }, user, handoff, handoff.providerSid, request)
      noStore(reply)
      return pairBody(pair)
    },
  })

  app.post("/:provider/backchannel-logout", {
    schema: {
      summary: "OpenID Connect Back-Channel Logout 1.0: the provider's logout_token revokes the sessions it names.",
      tags,
      params: ProviderParams,
      body: Type.Object({ logout_token: Type.Optional(Type.String({ maxLength: 16384 })) }),
      response: { 200: schemas.Empty, 400: schemas.ErrorBody, 404: OidcErrorBody, 503: schemas.ErrorBody },
    },
    async handler(request, reply) {
      const provider = providerOf(request.params.provider)
      const revoked = await receiver.receive(provider, request.body.logout_token)
      request.log.info({ provider: provider.settings.name, revoked }, "back-channel logout")
      return noStore(reply).code(200).send()
    },
  })

  app.get("/logout", {
    schema: {
      summary: "RP-initiated logout: ends this browser's federated session here, then redirects to the provider's logout.",
      description:
        "For browsers signed in by a provider (cookie mode): the session the sign-in made is revoked first, always; then a redirect to the provider's " +
        "end_session_endpoint (with id_token_hint and post_logout_redirect_uri), or to / when there is nothing to end there.",
      tags,
      response: { 303: Redirect, 503: schemas.ErrorBody },
    },
    async handler(request, reply) {
      noStore(reply).header("set-cookie", logoutCookie("", 0))
      let record: (LogoutRecord & { id: string }) | null = null
      for (const value of cookieValues(request.headers.cookie, LOGOUT_COOKIE)) record ??= await sealer.open<LogoutRecord>(LOGOUT_PURPOSE, value)
      if (record === null) return reply.redirect("/", 303)
      const actor = (await users.get(record.sub))?.username ?? record.sub
      await auth.revokeSession(record.sid, { reason: "logout", actor })
      if (request.headers.cookie !== undefined) clearAuthCookies(reply, cookies)
      const provider = providers.get(record.provider)
      let target: URL | null = null
      try {
        if (provider !== undefined) target = await endSessionUrl(provider, record, provider.settings.postLogoutRedirectUri ?? `${config.issuer}/`)
      } catch (error) {
        // The local session has ended; a provider that cannot be reached leaves only its own session up.
        if (!(error instanceof OidcError)) throw error
        request.log.warn({ provider: record.provider, code: error.code }, "RP-initiated logout skipped: the provider cannot be reached")
      }
      return reply.redirect(target?.href ?? "/", 303)
    },
  })

  async function openTransaction(request: FastifyRequest): Promise<(Transaction & { id: string; exp: number }) | null> {
    for (const value of cookieValues(request.headers.cookie, COOKIE)) {
      const transaction = await sealer.open<Transaction & { exp: number }>(TRANSACTION_PURPOSE, value)
      if (transaction !== null) return transaction
    }
    return null
  }
}

function cookieValues(header: string | undefined, name: string): string[] {
  if (header === undefined) return []
  return header
    .split(";")
    .map((pair) => pair.trim())
    .filter((pair) => pair.startsWith(`${name}=`))
    .map((pair) => pair.slice(name.length + 1))
}

function withParameters(target: string, parameters: Record<string, string>): string {
  const url = new URL(target, "http://relative.invalid")
  for (const [name, value] of Object.entries(parameters)) url.searchParams.set(name, value)
  return url.origin === "http://relative.invalid" ? `${url.pathname}${url.search}` : url.href
}
