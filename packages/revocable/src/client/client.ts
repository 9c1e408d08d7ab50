/// <reference lib="dom" />
// createClient: one tab's session (its tokens, one refresh at a time, signing in and out), kept in step with
// the other tabs of the origin.
import { configure, type ClientOptions } from "./config.ts"
import { ClientError, errorOf, tokensOf } from "./responses.ts"
import { localTokens, type Tokens, type TokenStore } from "./storage.ts"
import { tabs, type TabMessage } from "./tabs.ts"

export interface ClientEvents {
  /** A session started, in this tab or another tab of the origin. */
  "logged-in": { sessionId: string | null }
  /** New tokens, refreshed by this tab or handed over by another one. */
  refreshed: { sessionId: string | null }
  /**
   * The session is over for this tab: "logout", "logout-everywhere", or the server's code when it refused the
   * tokens ("token_revoked" when the session was revoked, "refresh_token_reused", ...).
   */
  "logged-out": { reason: string }
}

export interface Client {
  readonly signedIn: boolean
  readonly sessionId: string | null
  /** Creates an account; resolves the server's view of it. Throws ClientError ("invalid_request", "forbidden"). */
  register(username: string, password: string): Promise<unknown>
  /** Throws ClientError: "invalid_credentials", "forbidden" (suspended), "rate_limited" (with retryAfter). */
  login(username: string, password: string, options?: { device?: string }): Promise<void>
  /** Resumes the session after a page load; resolves whether there is one. */
  restore(): Promise<boolean>
  /**
   * `fetch`, with the access token attached for the server (and `apiOrigins`); an answer 401 `token_expired` is
   * followed by one refresh, shared by every call and tab, and one retry. Any other 401 (except
   * `invalid_credentials`) ends the session: "logged-out" is emitted and the 401 returned. A refused refresh
   * ends it too, and its error is what the call answers (401 `refresh_token_reused`, `token_revoked`, ...).
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>
  /** A JSON call through `fetch`: resolves the parsed body (undefined for 204), throws ClientError otherwise. */
  call<T = unknown>(path: string, options?: { method?: string; body?: unknown }): Promise<T>
  /** Revokes this session on the server, then signs every tab of the origin out. */
  logout(): Promise<void>
  /** Revokes every token of the user, on every device. */
  logoutEverywhere(): Promise<void>
  /** Resolves the unsubscribe function. */
  on<E extends keyof ClientEvents>(event: E, listener: (detail: ClientEvents[E]) => void): () => void
  /** Stops listening to the other tabs. */
  close(): void
}

const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"])

export function createClient(options: ClientOptions = {}): Client {
  const { root, mode, origins, csrfCookie, csrfHeader, name, fetchImpl, credentials } = configure(options)

  const persisted: TokenStore | null = mode === "local" ? localTokens(name) : null
  let state: Tokens | null = persisted?.peek() ?? null
  let flight: Promise<string | ClientError> | null = null
  const listeners: { [E in keyof ClientEvents]: Set<(detail: ClientEvents[E]) => void> } = {
    "logged-in": new Set(),
    refreshed: new Set(),
    "logged-out": new Set(),
  }
  const shared = tabs(name, receive)

  function emit<E extends keyof ClientEvents>(event: E, detail: ClientEvents[E]): void {
    for (const listener of listeners[event]) {
      try {
        listener(detail)
      } catch (error) {
        globalThis.reportError?.(error)
      }
    }
  }

  /** A message of another tab: they share this tab's cookies (or storage), so their session is this one. */
  function receive(message: TabMessage): void {
    if (message.type === "signed-out") {
      if (state === null || (message.sessionId !== null && message.sessionId !== state.sessionId)) return
      state = null
      emit("logged-out", { reason: message.reason ?? "logout" })
      return
    }
    const tokens = message.tokens
    if (tokens === undefined || typeof tokens.accessToken !== "string") return
    const previous = state
    state = { ...tokens, sessionId: message.sessionId }
    if (previous === null || previous.sessionId !== state.sessionId) emit("logged-in", { sessionId: state.sessionId })
    else emit("refreshed", { sessionId: state.sessionId })
  }

  /** Takes new tokens; call it holding the refresh lock, so that the next holder finds them stored. */
  async function adopt(tokens: Tokens, how: "signed-in" | "refreshed"): Promise<void> {
    await persisted?.write(tokens)
    const previous = state
    state = tokens
    shared.post({ type: how, sessionId: tokens.sessionId, tokens: { ...tokens } })
    if (how === "signed-in" || previous === null) emit("logged-in", { sessionId: tokens.sessionId })
    else emit("refreshed", { sessionId: tokens.sessionId })
  }

  /**
   * Ends this tab's session and tells the others. With `token`, only if the session still holds that token:
   * an answer about an older token must not end a session started since.
   */
  function signOut(reason: string, scope: { token?: string; everywhere?: boolean } = {}): Promise<void> {
    if (state === null || (scope.token !== undefined && state.accessToken !== scope.token)) return Promise.resolve()
    const sessionId = state.sessionId
    state = null
    const cleared = persisted === null ? Promise.resolve() : persisted.clear(sessionId).catch(() => undefined)
    shared.post({ type: "signed-out", sessionId: scope.everywhere === true ? null : sessionId, reason })
    emit("logged-out", { reason })
    return cleared
  }

  function endpoint(path: string): URL {
    return /^[a-z][a-z\d+.-]*:/i.test(path) ? new URL(path) : new URL(path.replace(/^\/+/, ""), root)
  }

  function readCsrf(): string | null {
    if (typeof document === "object" && typeof document.cookie === "string") {
      for (const pair of document.cookie.split(";")) {
        const equals = pair.indexOf("=")
        if (equals > 0 && pair.slice(0, equals).trim() === csrfCookie) return pair.slice(equals + 1).trim()
      }
      // The cookie of another origin cannot be read: fall back on the token of the last answer.
      if (typeof location === "object" && location.origin === root.origin) return null
    }
    return state?.csrfToken ?? null
  }

  async function post(path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const init: RequestInit = { method: "POST", headers: { ...headers }, credentials }
    if (body !== undefined) {
      init.headers = { ...headers, "content-type": "application/json" }
      init.body = JSON.stringify(body)
    }
    try {
      return await fetchImpl(endpoint(path), init)
    } catch (cause) {
      throw new ClientError("network_error", 0, "The server could not be reached.", { cause })
    }
  }

  /**
   * One refresh for every caller of this tab, and under the lock for every tab: the tokens of another tab that
   * refreshed meanwhile are taken instead of refreshing again, and a refresh only ever sends the newest refresh
   * token (the cookie jar's, or the one the last holder of the lock stored), so no refresh token is presented
   * twice. Resolves the new access token, or the error that ended the session.
   */
  function refresh(stale: string | null): Promise<string | ClientError> {
    flight ??= shared
      .exclusive(async () => {
        if (state !== null && state.accessToken !== stale) return state.accessToken
        let body: { refresh_token: string | undefined } | undefined
        if (persisted !== null) {
          const stored = await persisted.latest()
          if (stored === null) {
            await signOut("logout", stale === null ? {} : { token: stale })
            return new ClientError("logged_out", 401, "The session was ended in another tab.")
          }
          if (stored.accessToken !== stale) {
            const handed = state === null
            state = stored
            emit(handed ? "logged-in" : "refreshed", { sessionId: stored.sessionId })
            return stored.accessToken
          }
          body = { refresh_token: stored.refreshToken }
        }
        const csrf = persisted === null ? readCsrf() : null
        const response = await post("auth/refresh", body, csrf === null ? {} : { [csrfHeader]: csrf })
        if (response.ok) {
          const tokens = await tokensOf(response)
          await adopt(tokens, "refreshed")
          return tokens.accessToken
        }
        const error = await errorOf(response)
        if (response.status === 400 || response.status === 401) {
          await signOut(error.code, stale === null ? {} : { token: stale })
          return error
        }
        throw error
      })
      .finally(() => {
        flight = null
      })
    return flight
  }

  function send(request: Request, token: string | null): Promise<Response> {
    const headers = new Headers(request.headers)
    if (token !== null && !headers.has("authorization")) headers.set("authorization", `Bearer ${token}`)
    if (new URL(request.url).origin !== root.origin) return fetchImpl(new Request(request, { headers }))
    // The server's own cookies: the CSRF header lets a request authenticated by the cookie alone through too.
    if (mode === "cookie" && !SAFE_METHODS.has(request.method)) {
      const csrf = readCsrf()
      if (csrf !== null) headers.set(csrfHeader, csrf)
    }
    return fetchImpl(new Request(request, { headers, credentials }))
  }

  async function clientFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const request = new Request(typeof input === "string" ? endpoint(input) : input, init)
    if (!origins.has(new URL(request.url).origin)) return fetchImpl(request)
    const token = state?.accessToken ?? null
    const answer = await send(token === null ? request : request.clone(), token)
    if (answer.status !== 401 || token === null) return answer
    const error = await errorOf(answer)
    if (error.code !== "token_expired") {
      if (error.code !== "invalid_credentials") void signOut(error.code, { token })
      return answer
    }
    const next = await refresh(token)
    // The answer that ended the session (refresh_token_reused, token_revoked, ...) says more than the expiry.
    if (next instanceof ClientError) {
      return new Response(JSON.stringify({ error: next.code, error_description: next.message }), { status: 401, headers: { "content-type": "application/json" } })
    }
    const retried = await send(request, next)
    if (retried.status === 401) {
      const again = await errorOf(retried)
      if (again.code !== "token_expired" && again.code !== "invalid_credentials") void signOut(again.code, { token: next })
    }
    return retried
  }

  async function restore(): Promise<boolean> {
    if (persisted !== null) {
      const stored = await persisted.latest()
      if (stored === null) void signOut("logout")
      else state = stored
      return state !== null
    }
    if (state !== null) return true
    // Without the CSRF cookie there is no refresh cookie either (they are set and cleared together).
    if (typeof document === "object" && typeof location === "object" && location.origin === root.origin && readCsrf() === null) return false
    return typeof (await refresh(null)) === "string"
  }

  async function end(path: string, reason: string, everywhere: boolean): Promise<void> {
    // After a page load, the session to end may still be only in the cookies.
    if (state === null && !(await restore())) return
    let response: Response
    try {
      response = await clientFetch(path, { method: "POST" })
    } catch (cause) {
      throw new ClientError("network_error", 0, "The server could not be reached: the session may still be active.", { cause })
    }
    if (!response.ok && response.status !== 401) throw await errorOf(response)
    await signOut(reason, { everywhere })
  }

  return {
    get signedIn() {
      return state !== null
    },
    get sessionId() {
      return state?.sessionId ?? null
    },

    async register(username, password) {
      const response = await post("auth/register", { username, password })
      if (!response.ok) throw await errorOf(response)
      return response.json()
    },

    async login(username, password, loginOptions = {}) {
      const body = { username, password, ...(loginOptions.device === undefined ? {} : { device: loginOptions.device }), ...(mode === "cookie" ? { cookie: true } : {}) }
      const response = await post("auth/login", body)
      if (!response.ok) throw await errorOf(response)
      const tokens = await tokensOf(response)
      await shared.exclusive(() => adopt(tokens, "signed-in"))
    },

    restore,
    fetch: clientFetch,

    async call<T>(path: string, callOptions: { method?: string; body?: unknown } = {}): Promise<T> {
      const init: RequestInit = { method: callOptions.method ?? (callOptions.body === undefined ? "GET" : "POST") }
      if (callOptions.body !== undefined) {
        init.headers = { "content-type": "application/json" }
        init.body = JSON.stringify(callOptions.body)
      }
      let response: Response
      try {
        response = await clientFetch(path, init)
      } catch (cause) {
        if (cause instanceof ClientError) throw cause
        throw new ClientError("network_error", 0, "The server could not be reached.", { cause })
      }
      if (!response.ok) throw await errorOf(response)
      if (response.status === 204) return undefined as T
      return ((response.headers.get("content-type") ?? "").includes("json") ? await response.json() : await response.text()) as T
    },

    logout: () => end("auth/logout", "logout", false),
    logoutEverywhere: () => end("auth/logout-all", "logout-everywhere", true),

    on(event, listener) {
      listeners[event].add(listener)
      return () => listeners[event].delete(listener)
    },

    close() {
      shared.close()
      for (const set of Object.values(listeners)) set.clear()
    },
  }
}
