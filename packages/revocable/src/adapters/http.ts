/**
 * What the Express, Fastify and Hono adapters share, written once: where a request's token is found, the CSRF
 * check of cookie mode, the auth cookies, the claim and scope guards, and how an AuthError becomes an HTTP
 * answer. Each adapter only translates between its framework and these functions.
 *
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
 *
 * Answers to errors: the AuthError's status and `{"error": code, "error_description": message}`. A 401 carries
 * `WWW-Authenticate: Bearer error="invalid_token", error_description="..."`, except `token_missing` and
 * `invalid_credentials`, which get a bare `Bearer` challenge (RFC 6750 §3.1: no error code when the request
 * had no token); 400 carries `error="invalid_request"`; 403 `forbidden` carries `error="insufficient_scope"`
 * (and `scope="..."` from a scope guard); 429 carries `Retry-After`.
 *
 * The claim guard compares each claim with the values it expects: a claim that is an array matches when one of
 * its items does. `roles`, `groups` and `entitlements` (RFC 9068 §2.2.3.1, multi-valued after SCIM, RFC 7643)
 * count only as arrays of strings: such a claim in any other shape (a lone string, an object, an array holding
 * anything but strings) grants nothing, as if absent. The auth server reads `roles` by the same rule
 * (`listClaim`) for its admin guard, `/me` and introspection.
 *
 * @example
 * // how an adapter uses it (users import revocable/express, revocable/fastify or revocable/hono)
 * const read = tokenReader(view, { cookie: { origins: ["https://app.example"] } })
 * const token = read(request)                  // string | null; throws AuthError (400, 403)
 * const answer = errorAnswer(error)            // { status, headers, body }
 */
import { randomBytes, timingSafeEqual } from "node:crypto"
import { AuthError, RateLimitedError, type AuthErrorCode } from "../errors.ts"
import type { TokenPair } from "../core/auth.ts"
import type { Claims } from "../core/claims.ts"
import type { TokenType } from "../core/keys.ts"

/** Cookie mode: the names, the attributes of the cookies set, and the origins allowed to make unsafe requests. */
export interface CookieOptions {
  /** Default "access_token". */
  accessName?: string
  /** Default "refresh_token". */
  refreshName?: string
  /** The cookie holding the CSRF token; readable by scripts, which echo it in `csrfHeader`. Default "csrf_token". */
  csrfName?: string
  /** Default "x-csrf-token". */
  csrfHeader?: string
  /** Exact origins ("https://app.example") allowed to send unsafe requests; any other `Origin` is refused. */
  origins?: readonly string[]
  /** Default "/". */
  path?: string
  /** Path of the refresh cookie, e.g. "/auth". Default: `path`. */
  refreshPath?: string
  domain?: string
  /** Default true: leave it on outside local HTTP development. */
  secure?: boolean
  /** Default "Strict". "None" requires `secure`. */
  sameSite?: "Strict" | "Lax" | "None"
}

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

export interface ErrorAnswer {
  status: number
  headers: Record<string, string>
  body: { error: AuthErrorCode; error_description: string }
}

/**
 * A claim's expected value, or a list of values any one of which will do; a function for anything else. The
 * values expected of `roles`, `groups` and `entitlements` are strings (see `listClaim`).
 */
export type ClaimsRequirement = Readonly<Record<string, ClaimValue | readonly ClaimValue[]>> | ((claims: Claims) => boolean)
type ClaimValue = string | number | boolean

/** The claims of RFC 9068 §2.2.3.1 whose values are JSON arrays of strings. */
const LIST_CLAIMS: ReadonlySet<string> = new Set(["roles", "groups", "entitlements"])

interface ResolvedCookies {
  accessName: string
  refreshName: string
  csrfName: string
  csrfHeader: string
  origins: ReadonlySet<string> | null
  path: string
  refreshPath: string
  domain: string | null
  secure: boolean
  sameSite: "Strict" | "Lax" | "None"
}

const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"])
const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const ATTRIBUTE_CHARS = /^[\x21-\x3A\x3C-\x7E]+$/
const BEARER = /^bearer(?:[ \t]|$)/i
const BLANK = /\s/
const NOT_QUOTABLE = /[^\x20\x21\x23-\x5B\x5D-\x7E]/g

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

/** Every value of the cookie `name` in a Cookie header (browsers send one per path and domain that matches). */
export function cookieValues(header: string, name: string): string[] {
  const values: string[] = []
  for (const pair of header.split(";")) {
    const equals = pair.indexOf("=")
    if (equals < 0 || pair.slice(0, equals).trim() !== name) continue
    let value = pair.slice(equals + 1).trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    values.push(value)
  }
  return values
}

function checkCsrf<R>(view: RequestView<R>, request: R, cookies: ResolvedCookies, cookieHeader: string): void {
  if (cookies.origins !== null) {
    const origin = view.header(request, "origin")
    if (origin !== undefined && !cookies.origins.has(origin)) throw new AuthError("csrf_failed", "The request's Origin is not allowed.")
  }
  const expected = cookieValues(cookieHeader, cookies.csrfName)
  const presented = view.header(request, cookies.csrfHeader)
  if (expected.length !== 1 || expected[0] === "" || presented === undefined || !sameText(expected[0] as string, presented)) {
    throw new AuthError("csrf_failed")
  }
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
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

function resolveCookies(option: boolean | CookieOptions | undefined): ResolvedCookies | null {
  if (option === undefined || option === false) return null
  const options = option === true ? {} : option
  if (!isObject(options)) throw new TypeError("Option cookie must be true, false or an object of cookie options.")
  const name = (value: unknown, fallback: string, what: string): string => {
    const result = value ?? fallback
    if (typeof result !== "string" || !TOKEN_CHARS.test(result)) throw new TypeError(`Option cookie.${what} must be a cookie or header name.`)
    return result
  }
  const attribute: (value: unknown, what: string) => asserts value is string = (value, what) => {
    if (typeof value !== "string" || !ATTRIBUTE_CHARS.test(value)) throw new TypeError(`Option cookie.${what} must be a non-empty string without ";" or blanks.`)
  }
  const path = options.path ?? "/"
  attribute(path, "path")
  const refreshPath = options.refreshPath ?? path
  attribute(refreshPath, "refreshPath")
  if (options.domain !== undefined) attribute(options.domain, "domain")
  const secure = options.secure ?? true
  if (typeof secure !== "boolean") throw new TypeError("Option cookie.secure must be a boolean.")
  const sameSite = options.sameSite ?? "Strict"
  if (sameSite !== "Strict" && sameSite !== "Lax" && sameSite !== "None") throw new TypeError('Option cookie.sameSite must be "Strict", "Lax" or "None".')
  if (sameSite === "None" && !secure) throw new TypeError('Option cookie.sameSite "None" requires secure cookies.')
  let origins: Set<string> | null = null
  if (options.origins !== undefined) {
    if (!Array.isArray(options.origins) || !options.origins.every(isOrigin)) {
      throw new TypeError('Option cookie.origins must be an array of origins such as "https://app.example" (scheme, host and port only).')
    }
    origins = new Set(options.origins)
  }
  const resolved = {
    accessName: name(options.accessName, "access_token", "accessName"),
    refreshName: name(options.refreshName, "refresh_token", "refreshName"),
    csrfName: name(options.csrfName, "csrf_token", "csrfName"),
    csrfHeader: name(options.csrfHeader, "x-csrf-token", "csrfHeader").toLowerCase(),
    origins,
    path,
    refreshPath,
    domain: options.domain ?? null,
    secure,
    sameSite,
  }
  if (new Set([resolved.accessName, resolved.refreshName, resolved.csrfName]).size !== 3) {
    throw new TypeError("Options cookie.accessName, refreshName and csrfName must differ.")
  }
  return resolved
}

function isOrigin(value: unknown): boolean {
  if (typeof value !== "string") return false
  try {
    return new URL(value).origin === value
  } catch {
    return false
  }
}

function isObject(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}

/**
 * The Set-Cookie values that log a browser in (or renew it after a refresh): the access and refresh tokens,
 * HttpOnly, and a fresh CSRF token that scripts can read and echo in the CSRF header.
 */
export function loginCookies(pair: TokenPair, options: boolean | CookieOptions = true): { cookies: string[]; csrfToken: string } {
  const cookies = resolveCookies(options)
  if (cookies === null) throw new TypeError("Cookie helpers need cookie options (true for the defaults).")
  const csrfToken = randomBytes(32).toString("base64url")
  return {
    cookies: [
      serialize(cookies, cookies.accessName, pair.accessToken, pair.expiresIn, cookies.path, true),
      serialize(cookies, cookies.refreshName, pair.refreshToken, pair.refreshExpiresIn, cookies.refreshPath, true),
      serialize(cookies, cookies.csrfName, csrfToken, pair.refreshExpiresIn, cookies.path, false),
    ],
    csrfToken,
  }
}

/** The Set-Cookie values that remove the auth cookies (logout). Revoking the tokens is the application's call. */
export function logoutCookies(options: boolean | CookieOptions = true): string[] {
  const cookies = resolveCookies(options)
  if (cookies === null) throw new TypeError("Cookie helpers need cookie options (true for the defaults).")
  return [
    serialize(cookies, cookies.accessName, "", 0, cookies.path, true),
    serialize(cookies, cookies.refreshName, "", 0, cookies.refreshPath, true),
    serialize(cookies, cookies.csrfName, "", 0, cookies.path, false),
  ]
}

function serialize(cookies: ResolvedCookies, name: string, value: string, maxAge: number, path: string, httpOnly: boolean): string {
  let cookie = `${name}=${value}; Max-Age=${Math.max(0, Math.floor(maxAge))}; Path=${path}`
  if (cookies.domain !== null) cookie += `; Domain=${cookies.domain}`
  if (cookies.secure) cookie += "; Secure"
  if (httpOnly) cookie += "; HttpOnly"
  return `${cookie}; SameSite=${cookies.sameSite}`
}

/** Carries the scope a scope guard wanted, for the `scope` parameter of the challenge. */
export class InsufficientScopeError extends AuthError {
  readonly scope: string

  constructor(scope: string) {
    super("forbidden", "The token does not carry the required scope.")
    this.scope = scope
  }
}

/** A check of the claims `authenticate` put on the request: throws token_missing (none) or forbidden. */
export function claimsGuard(requirement: ClaimsRequirement): (claims: Claims | undefined) => void {
  if (typeof requirement === "function") {
    return (claims) => {
      if (claims === undefined) throw new AuthError("token_missing")
      if (requirement(claims) !== true) throw new AuthError("forbidden")
    }
  }
  if (!isObject(requirement) || Object.keys(requirement).length === 0) {
    throw new TypeError("requireClaims needs a non-empty object of expected claim values, or a function.")
  }
  const expected = Object.entries(requirement).map(([name, value]): [string, readonly ClaimValue[]] => {
    const values = Array.isArray(value) ? value : [value]
    if (values.length === 0 || !values.every(isClaimValue)) {
      throw new TypeError(`requireClaims: the value of ${name} must be a string, number, boolean or a non-empty array of them.`)
    }
    if (LIST_CLAIMS.has(name) && !values.every((item) => typeof item === "string")) {
      throw new TypeError(`requireClaims: ${name} holds strings (RFC 9068 §2.2.3.1): expect a string or a non-empty array of strings.`)
    }
    return [name, values]
  })
  return (claims) => {
    if (claims === undefined) throw new AuthError("token_missing")
    for (const [name, values] of expected) {
      const actual = LIST_CLAIMS.has(name) ? listClaim(claims, name) : Object.hasOwn(claims, name) ? claims[name] : undefined
      const matches = Array.isArray(actual) ? actual.some((item) => values.includes(item as ClaimValue)) : values.includes(actual as ClaimValue)
      if (!matches) throw new AuthError("forbidden")
    }
  }
}

/**
 * The strings of a multi-valued claim (`roles`, `groups`, `entitlements`: RFC 9068 §2.2.3.1); null when the
 * claim is absent or is not an array of strings, which grants nothing.
 */
export function listClaim(claims: Claims, name: string): string[] | null {
  const value = Object.hasOwn(claims, name) ? claims[name] : undefined
  return Array.isArray(value) && value.every((item) => typeof item === "string") ? value : null
}

/** Every scope must be in the token's `scope` claim (space-separated, RFC 9068 §2.2.3) or its array form. */
export function scopeGuard(scopes: readonly string[]): (claims: Claims | undefined) => void {
  if (scopes.length === 0 || !scopes.every((scope) => typeof scope === "string" && TOKEN_CHARS.test(scope))) {
    throw new TypeError("requireScope needs one or more scope names without blanks or quotes.")
  }
  const wanted = scopes.join(" ")
  return (claims) => {
    if (claims === undefined) throw new AuthError("token_missing")
    const scope = Object.hasOwn(claims, "scope") ? claims.scope : undefined
    const granted = typeof scope === "string" ? scope.split(" ") : Array.isArray(scope) ? scope : []
    if (!scopes.every((name) => granted.includes(name))) throw new InsufficientScopeError(wanted)
  }
}

/** The status, headers and JSON body that answer an AuthError, identical in every adapter. */
export function errorAnswer(error: AuthError): ErrorAnswer {
  const headers: Record<string, string> = {}
  const challenge = challengeFor(error)
  if (challenge !== null) headers["www-authenticate"] = challenge
  if (error instanceof RateLimitedError) headers["retry-after"] = String(error.retryAfter)
  return { status: error.status, headers, body: { error: error.code, error_description: error.message } }
}

function challengeFor(error: AuthError): string | null {
  const description = `error_description="${error.message.replace(NOT_QUOTABLE, "")}"`
  switch (error.code) {
    case "token_missing":
    case "invalid_credentials":
      return "Bearer"
    case "invalid_request":
      return `Bearer error="invalid_request", ${description}`
    case "forbidden":
      return `Bearer error="insufficient_scope", ${description}${error instanceof InsufficientScopeError ? `, scope="${error.scope}"` : ""}`
    default:
      return error.status === 401 ? `Bearer error="invalid_token", ${description}` : null
  }
}

function isClaimValue(value: unknown): value is ClaimValue {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean"
}
