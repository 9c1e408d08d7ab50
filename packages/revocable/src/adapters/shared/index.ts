/**
 * What the Express, Fastify and Hono adapters share, written once: where a request's token is found
 * (request.ts), the CSRF check of cookie mode and the auth cookies (cookies.ts), the claim and scope guards
 * (guards.ts), and how an AuthError becomes an HTTP answer (answers.ts). Each adapter only translates between
 * its framework and these functions.
 *
 * @example
 * // how an adapter uses it (users import revocable/express, revocable/fastify or revocable/hono)
 * const read = tokenReader(view, { cookie: { origins: ["https://app.example"] } })
 * const token = read(request)                  // string | null; throws AuthError (400, 403)
 * const answer = errorAnswer(error)            // { status, headers, body }
 */
export { authenticateReader, nodeHeader, tokenReader, type AuthenticateOptions, type RequestView, type TokenOptions } from "./request.ts"
export { cookieValues, loginCookies, logoutCookies, type CookieOptions } from "./cookies.ts"
export { claimsGuard, InsufficientScopeError, listClaim, scopeGuard, type ClaimsRequirement } from "./guards.ts"
export { errorAnswer, type ErrorAnswer } from "./answers.ts"
