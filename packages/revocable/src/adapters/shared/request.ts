/**
 * Where the token is found, and which one counts when a request carries more than one:
 * - `Authorization: Bearer <token>`, read unless `header: false`. Two Authorization headers (or one holding two
 *   credentials) are refused, 400 `invalid_request`. A header of another scheme (Basic) is not a token here and
 *   is ignored; `Bearer` with no credential, or with blanks inside it, is 400 `invalid_request`.
 * - The query parameter named by `query`, only when that option is set (URLs end up in logs: RFC 6750 §2.3).
 *   A token in both the header and the query, or the parameter twice, is 400 `invalid_request` (RFC 6750 §2:
 *   one method per request).
 * - The access cookie, only when `cookie` is set. A browser sends cookies unasked, so an explicit token (header
 *   or query) wins over the cookie, which is then ignored, CSRF check included. A failing token never falls back
 *   to another location. A token taken from the cookie on an unsafe method (anything but GET, HEAD, OPTIONS)
 *   must pass the double-submit check: the CSRF header (`x-csrf-token`) equals the CSRF cookie, and when
 *   `origins` is set, an `Origin` header present must be one of them; else 403 `csrf_failed`. An auth cookie
 *   sent twice (cookie tossing from a sibling domain) is refused: 400, or 403 `csrf_failed` for the CSRF cookie.
 */
import { AuthError } from "../../errors.ts"
import { equalsInConstantTime } from "../../core/compare.ts"
import type { TokenType } from "../../core/keys.ts"
import { cookieValues, resolveCookies, type CookieOptions, type ResolvedCookies } from "./cookies.ts"
import { isObject } from "./validate.ts"

/** Where `authenticate` looks for the token. */
export interface TokenOptions {
  /** Read `Authorization: Bearer`. Default true. */
  header?: boolean
  /** Read the token from this query parameter (e.g. "access_token"). Default off. */
  query?: string | false
  /** Read the token from a cookie (true for the defaults). Default off. */
  cookie?: boolean | CookieOptions
}

export interface AuthenticateOptions extends TokenOptions {
  /** No token: go on without `auth`. A token that fails is still refused. Default false. */
  optional?: boolean
}

/** How an adapter reads a request; one constant per framework, so reading allocates nothing. */
export interface RequestView<R> {
  method(request: R): string
  /** A header's value, repeated headers joined by ", " ("; " for Cookie); undefined when absent. */
  header(request: R, name: string): string | undefined
  /** The request target or the full URL: only the query is read. */
  url(request: R): string
}

const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"])
const BEARER = /^bearer(?:[ \t]|$)/i
const BLANK = /\s/

/** The token of a request, from the locations the options enable, in the documented precedence. */
export function tokenReader<R>(view: RequestView<R>, options: TokenOptions = {}, type: TokenType = "access"): (request: R) => string | null {
  if (!isObject(options)) throw new TypeError("The adapter options must be an object.")
  const header = options.header ?? true
  if (typeof header !== "boolean") throw new TypeError("Option header must be a boolean.")
  const query = options.query ?? false
  if (query !== false && (typeof query !== "string" || query === "")) {
    throw new TypeError("Option query must be the name of a query parameter, or false.")
  }
  const cookies = resolveCookies(options.cookie)
  if (!header && query === false && cookies === null) throw new TypeError("Enable at least one token location: header, query or cookie.")
  if (type !== "access" && type !== "refresh") throw new TypeError('The token type must be "access" or "refresh".')
  const cookieName = cookies && (type === "access" ? cookies.accessName : cookies.refreshName)

  return (request) => {
    const explicit = header ? bearer(view.header(request, "authorization")) : null
    if (query !== false) {
      const fromQuery = queryToken(view.url(request), query)
      if (fromQuery !== null) {
        if (explicit !== null) throw new AuthError("invalid_request", "The request carries a token in both the Authorization header and the query.")
        return fromQuery
      }
    }
    if (explicit !== null || cookies === null || cookieName === null) return explicit
    const cookieHeader = view.header(request, "cookie")
    if (cookieHeader === undefined) return null
    const values = cookieValues(cookieHeader, cookieName)
    if (values.length > 1) throw new AuthError("invalid_request", "An auth cookie is sent more than once.")
    const token = values[0]
    if (token === undefined || token === "") return null
    if (!SAFE_METHODS.has(view.method(request))) checkCsrf(view, request, cookies, cookieHeader)
    return token
  }
}

/** Checks the `optional` flag and the token options at once, for `authenticate`. */
export function authenticateReader<R>(view: RequestView<R>, options: AuthenticateOptions = {}): { read: (request: R) => string | null; optional: boolean } {
  const read = tokenReader(view, options)
  const optional = options.optional ?? false
  if (typeof optional !== "boolean") throw new TypeError("Option optional must be a boolean.")
  return { read, optional }
}

function bearer(value: string | undefined): string | null {
  if (value === undefined) return null
  if (value.includes(",")) throw new AuthError("invalid_request", "The request has more than one Authorization header.")
  if (!BEARER.test(value)) return null
  const credential = value.slice(6).trim()
  if (credential === "" || BLANK.test(credential)) {
    throw new AuthError("invalid_request", "The Authorization header is not a single Bearer credential.")
  }
  return credential
}

function queryToken(url: string, name: string): string | null {
  const start = url.indexOf("?")
  if (start < 0) return null
  const values = new URLSearchParams(url.slice(start + 1)).getAll(name)
  if (values.length === 0) return null
  if (values.length > 1) throw new AuthError("invalid_request", "The token query parameter is repeated.")
  if (values[0] === "") throw new AuthError("invalid_request", "The token query parameter is empty.")
  return values[0] as string
}

function checkCsrf<R>(view: RequestView<R>, request: R, cookies: ResolvedCookies, cookieHeader: string): void {
  if (cookies.origins !== null) {
    const origin = view.header(request, "origin")
    if (origin !== undefined && !cookies.origins.has(origin)) throw new AuthError("csrf_failed", "The request's Origin is not allowed.")
  }
  const expected = cookieValues(cookieHeader, cookies.csrfName)
  const presented = view.header(request, cookies.csrfHeader)
  if (expected.length !== 1 || expected[0] === "" || presented === undefined || !equalsInConstantTime(expected[0] as string, presented)) {
    throw new AuthError("csrf_failed")
  }
}

/** A header of a Node request, with repeated headers joined, read from `rawHeaders`: Node keeps only the first Authorization. */
export function nodeHeader(rawHeaders: readonly string[], name: string): string | undefined {
  let value: string | undefined
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const raw = rawHeaders[i] as string
    if (raw.length === name.length && raw.toLowerCase() === name) {
      value = value === undefined ? rawHeaders[i + 1] : `${value}, ${rawHeaders[i + 1]}`
    }
  }
  return value
}
