/**
 * Express middleware for revocable: `authenticate` verifies the request's access token (revocation included)
 * and sets `req.auth` to its claims; `requireClaims` and `requireScope` answer 403 `forbidden`; every AuthError
 * becomes the same status, JSON body and `WWW-Authenticate` as in the Fastify and Hono adapters. Where tokens
 * are read from, and which wins when a request has several, is documented in `./http.ts`.
 *
 * An error of the store is an AuthError (`store_unavailable`, 503), never a 500; any other error goes to
 * `next(error)`, Express's own error path.
 *
 * @example
 * import express from "express"
 * import { authenticate, authErrorHandler, requireScope } from "revocable/express"
 *
 * const app = express()
 * app.get("/me", authenticate(auth), (req, res) => res.json({ sub: req.auth?.sub }))
 * app.post("/orders", authenticate(auth), requireScope("orders:write"), createOrder)
 * app.use("/api", authenticate(auth, { optional: true }))    // a whole subtree; no token -> no req.auth
 * app.use(authErrorHandler())                                  // AuthErrors thrown by handlers, same answers
 */
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from "express"
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

declare global {
  namespace Express {
    interface Request {
      /** The claims of the verified access token, set by `authenticate`. */
      auth?: Claims
    }
  }
}

const view: RequestView<Request> = {
  method: (req) => req.method,
  header: (req, name) => (name === "authorization" ? nodeHeader(req.rawHeaders, name) : single(req.headers[name])),
  url: (req) => req.url,
}

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === "string" ? value : undefined
}

/** Verifies the access token and sets `req.auth`; answers 401/400/403/503 itself. */
export function authenticate(auth: Verifier, options: AuthenticateOptions = {}): RequestHandler {
  const { read, optional } = authenticateReader(view, options)
  return (req, res, next) => {
    let token: string | null
    try {
      token = read(req)
    } catch (error) {
      return fail(error, res, next)
    }
    if (token === null) return optional ? next() : fail(new AuthError("token_missing"), res, next)
    return auth.verify(token).then(
      (claims) => {
        req.auth = claims
        next()
      },
      (error: unknown) => fail(error, res, next),
    )
  }
}

/** 403 `forbidden` unless the claims match (after `authenticate`; without a token, 401). */
export function requireClaims(requirement: ClaimsRequirement): RequestHandler {
  return guard(claimsGuard(requirement))
}

/** 403 `forbidden` (`insufficient_scope`) unless the token's `scope` has every one of these. */
export function requireScope(...scopes: string[]): RequestHandler {
  return guard(scopeGuard(scopes))
}

function guard(check: (claims: Claims | undefined) => void): RequestHandler {
  return (req, res, next) => {
    try {
      check(req.auth)
    } catch (error) {
      return fail(error, res, next)
    }
    next()
  }
}

/** Error middleware: answers AuthErrors thrown by route handlers (`await auth.refresh(...)`), passes on the rest. */
export function authErrorHandler(): ErrorRequestHandler {
  return (error, _req, res, next) => {
    if (isAuthError(error) && !res.headersSent) return sendAuthError(res, error)
    next(error)
  }
}

/** Answers an AuthError: its status, `{"error", "error_description"}` and the matching headers. */
export function sendAuthError(res: Response, error: AuthError): void {
  const answer = errorAnswer(error)
  res.status(answer.status).set(answer.headers).json(answer.body)
}

/** Sets the access, refresh and CSRF cookies (login, refresh); returns the CSRF token, also for the body. */
export function setAuthCookies(res: Response, pair: TokenPair, options: boolean | CookieOptions = true): string {
  const { cookies, csrfToken } = loginCookies(pair, options)
  res.append("Set-Cookie", cookies)
  return csrfToken
}

/** Removes the auth cookies (logout). */
export function clearAuthCookies(res: Response, options: boolean | CookieOptions = true): void {
  res.append("Set-Cookie", logoutCookies(options))
}

/**
 * The raw token of a request, where `authenticate` would find it (CSRF check included), without verifying it:
 * for routes that pass the token on, such as a refresh endpoint reading the refresh cookie.
 * @example
 * const next = await auth.refresh(readToken(req, { cookie: true, header: false, type: "refresh" }))
 */
export function readToken(req: Request, options: TokenOptions & { type?: TokenType } = {}): string | null {
  return tokenReader(view, options, options.type)(req)
}

function fail(error: unknown, res: Response, next: NextFunction): void {
  if (isAuthError(error)) sendAuthError(res, error)
  else next(error)
}
