/**
 * Hono middleware for revocable: `authenticate` verifies the request's access token (revocation included) and
 * sets `c.get("auth")` to its claims; `requireClaims` and `requireScope` answer 403 `forbidden`; every AuthError
 * becomes the same status, JSON body and `WWW-Authenticate` as in the Express and Fastify adapters. Where tokens
 * are read from, and which wins when a request has several, is documented in `./http.ts`.
 *
 * An error of the store is an AuthError (`store_unavailable`, 503) answered by the middleware itself, never a
 * 500; any other error is thrown to Hono's `onError`.
 *
 * @example
 * import { Hono } from "hono"
 * import { authenticate, authErrorHandler, requireScope } from "revocable/hono"
 *
 * const app = new Hono()
 * app.onError(authErrorHandler())                             // AuthErrors thrown by handlers, same answers
 * app.use("/api/*", authenticate(auth))                       // a whole subtree
 * app.get("/api/me", (c) => c.json({ sub: c.get("auth")?.sub }))
 * app.post("/api/orders", requireScope("orders:write"), createOrder)
 */
import type { Context, ErrorHandler, MiddlewareHandler } from "hono"
import type { ContentfulStatusCode } from "hono/utils/http-status"
import { AuthError, isAuthError } from "../errors.ts"
import type { TokenPair } from "../core/auth.ts"
import type { Verifier } from "../core/verifier.ts"
import type { Claims } from "../core/claims.ts"
import type { TokenType } from "../core/keys.ts"
import {
  authenticateReader,
  claimsGuard,
  errorAnswer,
  loginCookies,
  logoutCookies,
  scopeGuard,
  tokenReader,
  type AuthenticateOptions,
  type ClaimsRequirement,
  type CookieOptions,
  type RequestView,
  type TokenOptions,
} from "./shared/index.ts"

export type { AuthenticateOptions, ClaimsRequirement, CookieOptions, ErrorAnswer, TokenOptions } from "./shared/index.ts"
/** The status, headers and body that answer an AuthError, as every adapter sends them. */
export { errorAnswer } from "./shared/index.ts"

declare module "hono" {
  interface ContextVariableMap {
    /** The claims of the verified access token, set by `authenticate`. */
    auth?: Claims
  }
}

// Hono joins repeated headers (its Node server does so for Authorization too), which http.ts refuses.
const view: RequestView<Context> = {
  method: (c) => c.req.method,
  header: (c, name) => c.req.header(name),
  url: (c) => c.req.url,
}

/** Verifies the access token and sets `auth`; answers 401/400/403/503 itself. */
export function authenticate(auth: Verifier, options: AuthenticateOptions = {}): MiddlewareHandler {
  const { read, optional } = authenticateReader(view, options)
  return async (c, next) => {
    let claims: Claims
    try {
      const token = read(c)
      if (token === null) {
        if (optional) return next()
        throw new AuthError("token_missing")
      }
      claims = await auth.verify(token)
    } catch (error) {
      if (!isAuthError(error)) throw error
      return sendAuthError(c, error)
    }
    c.set("auth", claims)
    await next()
  }
}

/** 403 `forbidden` unless the claims match (after `authenticate`; without a token, 401). */
export function requireClaims(requirement: ClaimsRequirement): MiddlewareHandler {
  return guard(claimsGuard(requirement))
}

/** 403 `forbidden` (`insufficient_scope`) unless the token's `scope` has every one of these. */
export function requireScope(...scopes: string[]): MiddlewareHandler {
  return guard(scopeGuard(scopes))
}

function guard(check: (claims: Claims | undefined) => void): MiddlewareHandler {
  return async (c, next) => {
    try {
      check(c.get("auth"))
    } catch (error) {
      if (!isAuthError(error)) throw error
      return sendAuthError(c, error)
    }
    await next()
  }
}

/**
 * For `app.onError`: answers AuthErrors thrown by handlers; passes other errors to `fallback`, by default
 * what Hono does without an `onError` (an HTTPException's own response, else a logged 500).
 */
export function authErrorHandler(fallback: ErrorHandler = honoDefault): ErrorHandler {
  return (error, c) => (isAuthError(error) ? sendAuthError(c, error) : fallback(error, c))
}

const honoDefault: ErrorHandler = (error, c) => {
  if ("getResponse" in error) {
    const response = error.getResponse()
    return c.newResponse(response.body, response)
  }
  console.error(error)
  return c.text("Internal Server Error", 500)
}

/** Answers an AuthError: its status, `{"error", "error_description"}` and the matching headers. */
export function sendAuthError(c: Context, error: AuthError): Response {
  const answer = errorAnswer(error)
  return c.json(answer.body, answer.status as ContentfulStatusCode, answer.headers)
}

/** Sets the access, refresh and CSRF cookies (login, refresh); returns the CSRF token, also for the body. */
export function setAuthCookies(c: Context, pair: TokenPair, options: boolean | CookieOptions = true): string {
  const { cookies, csrfToken } = loginCookies(pair, options)
  for (const cookie of cookies) c.header("Set-Cookie", cookie, { append: true })
  return csrfToken
}

/** Removes the auth cookies (logout). */
export function clearAuthCookies(c: Context, options: boolean | CookieOptions = true): void {
  for (const cookie of logoutCookies(options)) c.header("Set-Cookie", cookie, { append: true })
}

/**
 * The raw token of a request, where `authenticate` would find it (CSRF check included), without verifying it:
 * for routes that pass the token on, such as a refresh endpoint reading the refresh cookie.
 * @example
 * const next = await auth.refresh(readToken(c, { cookie: true, header: false, type: "refresh" }))
 */
export function readToken(c: Context, options: TokenOptions & { type?: TokenType } = {}): string | null {
  return tokenReader(view, options, options.type)(c)
}
