// Same-origin requests for whatever a browser's cookies authorise. A cross-site page can make the visitor's
// browser send a request with the server's cookies (a form, an image, a fetch in no-cors mode); the browser then
// says where the request came from: Origin on every request but a GET or HEAD, Sec-Fetch-Site where it leaves
// Origin out. A cookie-authenticated unsafe request, and a sign-in that sets the cookies, must come from the
// server's own origin (as the request addressed it, or as the issuer names it) or a configured one. A client that
// is not a browser sends neither header and is let through: it has no cookie that another site could ride on.
import type { FastifyRequest } from "fastify"
import { AuthError } from "revocable"
import type { CookieOptions } from "revocable/fastify"

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"])
/** Sec-Fetch-Site values of a request the site itself made, or the user did (typing the URL). */
const OWN_FETCH = new Set(["same-origin", "none"])

export interface OriginGuard {
  /** Throws 403 `csrf_failed` unless the request comes from an allowed origin or from a client that is no browser. */
  check(request: FastifyRequest): void
  /** An onRequest hook: `check` for unsafe requests that carry an auth cookie and no Authorization header. */
  hook(request: FastifyRequest): Promise<void>
}

export function originGuard(issuer: string, cookies: CookieOptions): OriginGuard {
  const allowed = new Set([new URL(issuer).origin, ...(cookies.origins ?? [])])
  const authCookie = new RegExp(`(?:^|;)\\s*(?:${escape(cookies.accessName ?? "access_token")}|${escape(cookies.refreshName ?? "refresh_token")})=`)

  function check(request: FastifyRequest): void {
    const origin = request.headers.origin
    if (origin === undefined) {
      const site = request.headers["sec-fetch-site"]
      if (site === undefined || (typeof site === "string" && OWN_FETCH.has(site))) return
      throw new AuthError("csrf_failed", "The request comes from another site.")
    }
    if (allowed.has(origin) || origin === ownOrigin(request)) return
    throw new AuthError("csrf_failed", "The request's Origin is not allowed.")
  }

  return {
    check,
    async hook(request) {
      if (SAFE_METHODS.has(request.method) || request.headers.authorization !== undefined) return
      // The OAuth endpoints never read cookies: their callers authenticate in the request itself.
      if (request.url.startsWith("/oauth/")) return
      const cookie = request.headers.cookie
      if (typeof cookie === "string" && authCookie.test(cookie)) check(request)
    },
  }
}

/** The origin the request was addressed to (Host, or X-Forwarded-Host and -Proto behind a trusted proxy). */
function ownOrigin(request: FastifyRequest): string | undefined {
  try {
    return new URL(`${request.protocol}://${request.host}`).origin
  } catch {
    return undefined
  }
}

function escape(name: string): string {
  return name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
}
