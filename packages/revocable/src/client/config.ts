/// <reference lib="dom" />
// A client's options, checked when it is made, with their defaults.

/**
 * "cookie" (recommended): the server keeps the refresh token in an HttpOnly cookie scoped to /auth, which no
 * script can read; the access token lives in memory only, and a page load resumes the session with a refresh.
 * "local": both tokens in localStorage, as many tutorials do; any script running on the origin can read them.
 * (They are mirrored in IndexedDB, from which the tabs hand a rotated refresh token to one another.)
 */
export type StorageMode = "cookie" | "local"

export interface ClientOptions {
  /** The auth server. Default: the page's origin. A path is kept: "https://example.com/auth-server/". */
  baseUrl?: string | URL
  /** Default "cookie". */
  storage?: StorageMode
  /** Other origins that get the access token (APIs that verify it); no other origin ever sees it. */
  apiOrigins?: readonly string[]
  /** The server's CSRF cookie (cookie mode). Default "csrf_token". */
  csrfCookie?: string
  /** The header that echoes it. Default "X-CSRF-Token". */
  csrfHeader?: string
  /** Names the localStorage entry, the lock and the channel shared by the tabs. Default "revocable:" + baseUrl. */
  name?: string
  fetch?: typeof fetch
}

export interface Config {
  /** The auth server's URL, ending in "/". */
  root: URL
  mode: StorageMode
  /** The origins that get the access token: the server's and `apiOrigins`. */
  origins: Set<string>
  csrfCookie: string
  csrfHeader: string
  name: string
  fetchImpl: typeof fetch
  /** What requests to the server send: its cookies, in cookie mode even across origins. */
  credentials: RequestCredentials
}

const NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

export function configure(options: ClientOptions): Config {
  if (typeof options !== "object" || options === null) throw new TypeError("createClient: options must be an object.")
  const root = baseOf(options.baseUrl)
  const mode = options.storage ?? "cookie"
  if (mode !== "cookie" && mode !== "local") throw new TypeError('Option storage must be "cookie" or "local".')
  const origins = new Set([root.origin])
  for (const origin of options.apiOrigins ?? []) {
    if (!isOrigin(origin)) throw new TypeError('Option apiOrigins must list origins such as "https://api.example".')
    origins.add(origin)
  }
  const csrfCookie = options.csrfCookie ?? "csrf_token"
  const csrfHeader = options.csrfHeader ?? "X-CSRF-Token"
  if (!NAME.test(csrfCookie) || !NAME.test(csrfHeader)) throw new TypeError("Options csrfCookie and csrfHeader must be cookie and header names.")
  const name = options.name ?? `revocable:${root.href}`
  if (typeof name !== "string" || name === "") throw new TypeError("Option name must be a non-empty string.")
  const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis)
  if (typeof fetchImpl !== "function") throw new TypeError("Option fetch must be a function (no global fetch here).")
  const credentials: RequestCredentials = mode === "cookie" ? "include" : "same-origin"
  return { root, mode, origins, csrfCookie, csrfHeader, name, fetchImpl, credentials }
}

function baseOf(given: string | URL | undefined): URL {
  let base: URL
  try {
    base = new URL(given ?? (typeof location === "object" ? location.origin : ""))
  } catch {
    throw new TypeError('Option baseUrl must be a URL such as "https://auth.example" (required outside a page).')
  }
  if ((base.protocol !== "https:" && base.protocol !== "http:") || base.search !== "" || base.hash !== "") {
    throw new TypeError("Option baseUrl must be an http(s) URL without query or fragment.")
  }
  if (!base.pathname.endsWith("/")) base.pathname += "/"
  return base
}

function isOrigin(value: unknown): boolean {
  if (typeof value !== "string") return false
  try {
    return new URL(value).origin === value
  } catch {
    return false
  }
}
