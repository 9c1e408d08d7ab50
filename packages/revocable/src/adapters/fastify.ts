/**
 * Fastify hooks for revocable: `authenticate` verifies the request's access token (revocation included) and
 * sets `request.auth` to its claims; `requireClaims` and `requireScope` answer 403 `forbidden`; every AuthError
 * becomes the same status, JSON body and `WWW-Authenticate` as in the Express and Hono adapters. Where tokens
 * are read from, and which wins when a request has several, is documented in `./http.ts`.
 *
 * An error of the store is an AuthError (`store_unavailable`, 503) answered by the hook itself: never a 500,
 * never an unhandled rejection (the trap of a revocation check in @fastify/jwt's `trusted`). Any other error is
 * thrown to Fastify's error handler.
 *
 * @example
 * import Fastify from "fastify"
 * import { authenticate, authErrorHandler, requireClaims } from "revocable/fastify"
 *
 * const app = Fastify()
 * app.setErrorHandler(authErrorHandler())                     // AuthErrors thrown by handlers, same answers
 * app.get("/me", { onRequest: authenticate(auth) }, async (request) => ({ sub: request.auth?.sub }))
 * app.get("/admin", { onRequest: [authenticate(auth), requireClaims({ role: "admin" })] }, admin)
 * app.register(async (api) => api.addHook("onRequest", authenticate(auth)), { prefix: "/api" })  // a whole scope
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify"
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
  nodeHeader,
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
export { listClaim } from "./shared/index.ts"

declare module "fastify" {
  interface FastifyRequest {
    /** The claims of the verified access token, set by `authenticate`. */
    auth?: Claims
  }
}

/** A hook for `onRequest` or `preHandler`, on a route or with `addHook` for a whole scope. */
export type AuthHook = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>

const view: RequestView<FastifyRequest> = {
  method: (request) => request.method,
  header: (request, name) => (name === "authorization" ? nodeHeader(request.raw.rawHeaders, name) : single(request.headers[name])),
  url: (request) => request.url,
}

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === "string" ? value : undefined
}

/** Verifies the access token and sets `request.auth`; answers 401/400/403/503 itself. */
export function authenticate(auth: Verifier, options: AuthenticateOptions = {}): AuthHook {
  const { read, optional } = authenticateReader(view, options)
  return async (request, reply) => {
    let claims: Claims
    try {
      const token = read(request)
      if (token === null) {
        if (optional) return
        throw new AuthError("token_missing")
      }
      claims = await auth.verify(token)
    } catch (error) {
      if (!isAuthError(error)) throw error
      return sendAuthError(reply, error)
    }
    request.auth = claims
  }
}

/** 403 `forbidden` unless the claims match (after `authenticate`; without a token, 401). */
export function requireClaims(requirement: ClaimsRequirement): AuthHook {
  return guard(claimsGuard(requirement))
}

/** 403 `forbidden` (`insufficient_scope`) unless the token's `scope` has every one of these. */
export function requireScope(...scopes: string[]): AuthHook {
  return guard(scopeGuard(scopes))
}

function guard(check: (claims: Claims | undefined) => void): AuthHook {
  return async (request, reply) => {
    try {
      check(request.auth)
    } catch (error) {
      if (!isAuthError(error)) throw error
      return sendAuthError(reply, error)
    }
  }
}

/**
 * For `setErrorHandler`: answers AuthErrors thrown by route handlers; rethrows the rest, which Fastify then
 * hands to the parent error handler (the default one at the root).
 */
export function authErrorHandler(): (error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  return (error, _request, reply) => {
    if (isAuthError(error)) return sendAuthError(reply, error)
    throw error
  }
}

/** Answers an AuthError: its status, `{"error", "error_description"}` and the matching headers. */
export function sendAuthError(reply: FastifyReply, error: AuthError): FastifyReply {
  const answer = errorAnswer(error)
  return reply.code(answer.status).headers(answer.headers).send(answer.body)
}

/** Sets the access, refresh and CSRF cookies (login, refresh); returns the CSRF token, also for the body. */
export function setAuthCookies(reply: FastifyReply, pair: TokenPair, options: boolean | CookieOptions = true): string {
  const { cookies, csrfToken } = loginCookies(pair, options)
  reply.header("set-cookie", cookies)
  return csrfToken
}

/** Removes the auth cookies (logout). */
export function clearAuthCookies(reply: FastifyReply, options: boolean | CookieOptions = true): void {
  reply.header("set-cookie", logoutCookies(options))
}

/**
 * The raw token of a request, where `authenticate` would find it (CSRF check included), without verifying it:
 * for routes that pass the token on, such as a refresh endpoint reading the refresh cookie.
 * @example
 * const next = await auth.refresh(readToken(request, { cookie: true, header: false, type: "refresh" }))
 */
export function readToken(request: FastifyRequest, options: TokenOptions & { type?: TokenType } = {}): string | null {
  return tokenReader(view, options, options.type)(request)
}
