/**
 * Form bodies, for the routes whose specification posts them (OAuth 2.0, Back-Channel Logout) and no others:
 * anywhere else a cross-site HTML form could post as the visitor's browser. Register it inside such a route's
 * plugin only.
 *
 * @example
 * app.addContentTypeParser(FORM, { parseAs: "string" }, parseForm)
 */
import type { FastifyRequest } from "fastify"
import { AuthError } from "revocable"

export const FORM = "application/x-www-form-urlencoded"

/** A form's parameters; a parameter sent twice is refused (RFC 6749 §3.2), never resolved to one of its values. */
export function parseForm(_request: FastifyRequest, body: string | Buffer, done: (error: Error | null, parsed: Record<string, string> | undefined) => void): void {
  const parsed: Record<string, string> = {}
  for (const [name, value] of new URLSearchParams(body.toString())) {
    if (Object.hasOwn(parsed, name)) return done(new AuthError("invalid_request", "A form parameter is repeated."), undefined)
    // Defined, not assigned: a parameter named __proto__ is just a parameter.
    Object.defineProperty(parsed, name, { value, enumerable: true, writable: true, configurable: true })
  }
  done(null, parsed)
}
