/**
 * Cookie mode's cookies: their options, the Set-Cookie values of login and logout, and reading a Cookie header.
 */
import { randomBytes } from "node:crypto"
import type { TokenPair } from "../../core/auth.ts"
import { isObject, TOKEN_CHARS } from "./validate.ts"

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

/** Cookie options with every default applied and checked. */
export interface ResolvedCookies {
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

const ATTRIBUTE_CHARS = /^[\x21-\x3A\x3C-\x7E]+$/

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

export function resolveCookies(option: boolean | CookieOptions | undefined): ResolvedCookies | null {
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
