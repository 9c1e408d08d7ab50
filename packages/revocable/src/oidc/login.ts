// oidcLogin: the Authorization Code flow with PKCE (S256), state and nonce, done by openid-client (which also
// validates the ID token: signature by the provider's JWKS, iss, aud, azp, exp, nonce), ending in auth.issue.
// Framework-neutral: it takes a request's URL and Cookie header and answers redirects and Set-Cookie values.
import { randomBytes } from "node:crypto"
import * as client from "openid-client"
import type { Auth, TokenPair } from "../core/auth.ts"
import { cookieValues, loginCookies, resolveCookies, type CookieOptions } from "../adapters/shared/cookies.ts"
import { OidcError } from "./errors.ts"
import { callbackFailure, providerConfiguration } from "./provider.ts"
import { spentTransactions, transactionSealer, type Transaction } from "./seal.ts"

/** Who signed in, as the provider says: an identity is (`issuer`, `sub`), never the email. */
export interface OidcIdentity {
  issuer: string
  sub: string
  email: string | null
  /** True only when the provider asserted `email_verified: true`. */
  emailVerified: boolean
  /** Every claim of the validated ID token (`name`, `picture`, Google's `hd`, …). */
  claims: Record<string, unknown>
}

/** The local account an identity signs in to, and what its session carries (see `auth.issue`). */
export interface OidcSignIn {
  subject: string
  claims?: Record<string, unknown>
  device?: string
}

export interface OidcLoginOptions {
  /** Issues the session's tokens once the provider has answered. */
  auth: Pick<Auth, "issue">
  /** The provider's issuer URL; its discovery document is read from `/.well-known/openid-configuration`. */
  issuer?: string
  /** Instead of `issuer`: the URL of the discovery document itself. */
  discovery?: string
  clientId: string
  clientSecret: string
  /** How the secret goes to the token endpoint. Default "basic". */
  clientAuth?: "basic" | "post"
  /** This application's callback URL, as registered at the provider. */
  redirectUri: string
  /** Default ["openid", "email", "profile"]; must include "openid". */
  scopes?: readonly string[]
  /** More parameters of the authorization request, e.g. `{ prompt: "select_account" }` or Google's `{ hd }`. */
  parameters?: Record<string, string>
  /** Seals the transaction cookie: at least 32 bytes, kept secret, the same on every instance. */
  cookieSecret: string | Uint8Array
  /** The transaction cookie's name. Default "revocable_oidc". */
  cookieName?: string
  /** Cookie mode (the default): the callback's `setCookies` log the browser in. `false`: the app handles `tokens`. */
  cookie?: boolean | CookieOptions
  /** Where the browser lands after signing in, unless the sign-in was started with `?return_to=/a/path`. Default "/". */
  returnTo?: string
  /**
   * Maps the provider's identity to the application's own user: find or create it (keyed by issuer and sub),
   * return its id. Throw an AuthError (`forbidden`) to refuse the sign-in.
   */
  onIdentity(identity: OidcIdentity): Promise<OidcSignIn> | OidcSignIn
  /** Milliseconds since the epoch; for tests. */
  clock?: () => number
}

/** A request as the sign-in needs it: its URL (a path and query is enough) and its Cookie header. */
export interface OidcRequest {
  url: string
  cookie?: string | null | undefined
}

export interface OidcStart {
  /** The provider's authorization URL, to redirect the browser to (303). */
  redirectTo: string
  /** The sealed transaction: HttpOnly, SameSite=Lax, scoped to the callback's path, valid 10 minutes. */
  setCookie: string
}

export interface OidcCallback {
  identity: OidcIdentity
  /** What `auth.issue` returned. */
  tokens: TokenPair
  /** Clears the transaction cookie; in cookie mode also sets the auth cookies (see `loginCookies`). */
  setCookies: string[]
  /** Cookie mode: the CSRF token the browser's scripts echo in the CSRF header; null otherwise. */
  csrfToken: string | null
  /** Where to redirect the browser now. */
  returnTo: string
}

export interface OidcLogin {
  start(request: OidcRequest): Promise<OidcStart>
  /** Throws an OidcError (see `reason`) when the callback fails, or what `onIdentity` or `auth.issue` threw. */
  callback(request: OidcRequest): Promise<OidcCallback>
  /** The Set-Cookie value that clears the transaction cookie, for an answer to a failed callback. */
  readonly clearCookie: string
}

const TRANSACTION_TTL_MS = 10 * 60_000
const DEFAULT_SCOPES = ["openid", "email", "profile"]
// A path of this application; never "//host" or "/\host", which browsers read as another host.
const LOCAL_PATH = /^\/(?![/\\])[\x21-\x7E]*$/
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * Signs users in with an OpenID Connect provider and issues revocable tokens. Validates its options at once.
 * @example
 * const google = oidcLogin({
 *   auth, issuer: "https://accounts.google.com", clientId, clientSecret,
 *   redirectUri: "https://app.example/auth/oidc/google/callback", cookieSecret: process.env.COOKIE_SECRET,
 *   onIdentity: async ({ issuer, sub, email }) => ({ subject: await users.findOrCreate(issuer, sub, email) }),
 * })
 */
export function oidcLogin(options: OidcLoginOptions): OidcLogin {
  const settings = checkedOptions(options)
  const configuration = providerConfiguration({ server: settings.server, clientId: options.clientId, clientSecret: options.clientSecret, clientAuth: settings.clientAuth })
  const sealer = transactionSealer(options.cookieSecret, options.redirectUri)
  const spent = spentTransactions()
  const now = options.clock ?? Date.now
  const transactionCookie = (value: string, maxAgeS: number) =>
    `${settings.cookieName}=${value}; Max-Age=${maxAgeS}; Path=${settings.callbackPath}; HttpOnly; SameSite=Lax${settings.secure ? "; Secure" : ""}`
  const clearCookie = transactionCookie("", 0)

  return {
    clearCookie,

    async start(request) {
      const asked = new URL(request.url, "http://request.invalid").searchParams.get("return_to")
      if (asked !== null && !LOCAL_PATH.test(asked)) throw new OidcError("oidc_return_url_refused", "return_to must be a path of this application.")
      const provider = await configuration()
      const verifier = client.randomPKCECodeVerifier()
      const transaction: Transaction = {
        state: client.randomState(),
        nonce: client.randomNonce(),
        verifier,
        returnTo: asked ?? settings.returnTo,
        id: randomBytes(16).toString("base64url"),
        exp: now() + TRANSACTION_TTL_MS,
      }
      const url = client.buildAuthorizationUrl(provider, {
        ...options.parameters,
        redirect_uri: options.redirectUri,
        scope: settings.scopes,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: "S256",
        state: transaction.state,
        nonce: transaction.nonce,
      })
      return { redirectTo: url.href, setCookie: transactionCookie(sealer.seal(transaction), TRANSACTION_TTL_MS / 1000) }
    },

    async callback(request) {
      const at = now()
      const transaction = cookieValues(request.cookie ?? "", settings.cookieName)
        .map((value) => sealer.open(value, at))
        .find((opened) => opened !== null)
      if (transaction === undefined) throw new OidcError("oidc_transaction_missing", "No sign-in was started in this browser, or it expired: start again.")
      const query = new URL(request.url, "http://request.invalid").search
      const callbackUrl = new URL(options.redirectUri)
      callbackUrl.search = query
      // Checked here only to tell a mismatch apart; openid-client checks it again. A forged state spends nothing.
      if (callbackUrl.searchParams.get("state") !== transaction.state) {
        throw new OidcError("oidc_state_mismatch", "The callback's state is not the one this browser's sign-in sent.")
      }
      if (!spent.claim(transaction, at)) throw new OidcError("oidc_transaction_replayed", "This sign-in was already completed; start again.")
      let claims: client.IDToken | undefined
      try {
        const tokens = await client.authorizationCodeGrant(await configuration(), callbackUrl, {
          pkceCodeVerifier: transaction.verifier,
          expectedState: transaction.state,
          expectedNonce: transaction.nonce,
          idTokenExpected: true,
        })
        claims = tokens.claims()
      } catch (error) {
        // Only a code the provider exchanged stays spent: failures cost no memory, and their replay fails again.
        spent.release(transaction)
        throw callbackFailure(error)
      }
      if (claims === undefined) throw new OidcError("oidc_callback_invalid", "The provider returned no ID token.")
      const identity: OidcIdentity = {
        issuer: claims.iss,
        sub: claims.sub,
        email: typeof claims.email === "string" ? claims.email : null,
        emailVerified: claims.email_verified === true,
        claims: { ...claims },
      }
      const signIn = await options.onIdentity(identity)
      if (typeof signIn?.subject !== "string" || signIn.subject === "") throw new TypeError("onIdentity must return { subject } with the local user's id.")
      const tokens = await options.auth.issue(signIn.subject, { ...(signIn.claims === undefined ? {} : { claims: signIn.claims }), ...(signIn.device === undefined ? {} : { device: signIn.device }) })
      const login = settings.cookie === false ? null : loginCookies(tokens, settings.cookie)
      return { identity, tokens, setCookies: [clearCookie, ...(login?.cookies ?? [])], csrfToken: login?.csrfToken ?? null, returnTo: transaction.returnTo }
    },
  }
}

function checkedOptions(options: OidcLoginOptions) {
  if (typeof options !== "object" || options === null) throw new TypeError("oidcLogin needs its options.")
  if (typeof options.auth?.issue !== "function") throw new TypeError("Option auth must be a revocable auth (createAuth).")
  if ((options.issuer === undefined) === (options.discovery === undefined)) throw new TypeError("Give exactly one of the options issuer and discovery.")
  const server = secureUrl(options.issuer ?? options.discovery, options.issuer === undefined ? "discovery" : "issuer")
  for (const name of ["clientId", "clientSecret"] as const) {
    if (typeof options[name] !== "string" || options[name] === "") throw new TypeError(`Option ${name} must be a non-empty string.`)
  }
  const clientAuth = options.clientAuth ?? "basic"
  if (clientAuth !== "basic" && clientAuth !== "post") throw new TypeError('Option clientAuth must be "basic" or "post".')
  const redirect = secureUrl(options.redirectUri, "redirectUri")
  if (redirect.search !== "" || redirect.hash !== "") throw new TypeError("Option redirectUri must have no query or fragment.")
  const scopes = options.scopes ?? DEFAULT_SCOPES
  if (!Array.isArray(scopes) || !scopes.every((scope) => typeof scope === "string" && /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope)) || !scopes.includes("openid")) {
    throw new TypeError('Option scopes must be an array of scope names that includes "openid".')
  }
  const secret = options.cookieSecret
  const secretBytes = typeof secret === "string" ? Buffer.byteLength(secret) : secret instanceof Uint8Array ? secret.byteLength : 0
  if (secretBytes < 32) throw new TypeError("Option cookieSecret must be a string or bytes of at least 32 bytes (e.g. 32 random bytes, base64url).")
  const cookieName = options.cookieName ?? "revocable_oidc"
  if (typeof cookieName !== "string" || !COOKIE_NAME.test(cookieName)) throw new TypeError("Option cookieName must be a cookie name.")
  const returnTo = options.returnTo ?? "/"
  if (typeof returnTo !== "string" || !LOCAL_PATH.test(returnTo)) throw new TypeError('Option returnTo must be a path of this application, such as "/".')
  if (typeof options.onIdentity !== "function") throw new TypeError("Option onIdentity must be a function that maps an identity to { subject }.")
  if (options.parameters !== undefined && (typeof options.parameters !== "object" || options.parameters === null)) throw new TypeError("Option parameters must be an object of strings.")
  const cookie = options.cookie ?? true
  // Validated now, not at the first sign-in.
  if (cookie !== false) resolveCookies(cookie)
  return { server, clientAuth, scopes: scopes.join(" "), cookieName, returnTo, cookie, callbackPath: redirect.pathname, secure: redirect.protocol === "https:" }
}

/** An https URL; http only on loopback, for development and tests. */
function secureUrl(value: unknown, name: string): URL {
  let url: URL
  try {
    url = new URL(value as string)
  } catch {
    throw new TypeError(`Option ${name} must be an absolute URL.`)
  }
  const loopback = url.hostname === "localhost" || url.hostname === "127.0.0.1" || url.hostname === "[::1]"
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) throw new TypeError(`Option ${name} must be an https URL (http only on localhost).`)
  return url
}
