// One table of HTTP behaviours, run unchanged against the Express, Fastify and Hono adapters, each on its own
// server on a free port: the three must answer every request identically.
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import { createAuth, type Auth, type AuthErrorCode, type TokenPair } from "../../src/index.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import { flakyStore, type FlakyStore } from "../helpers/flaky.ts"
import { ADAPTERS, start, type Running } from "./apps.ts"
import { bearer, call, cookieHeader, setCookies, type Reply } from "./client.ts"

interface Tokens {
  alice: TokenPair
  bob: TokenPair
  carol: TokenPair
  revoked: string
}

interface Case {
  name: string
  method?: string
  path: string
  headers?: (tokens: Tokens) => ReadonlyArray<readonly [string, string]>
  status: number
  /** For errors: the code in the body. */
  error?: AuthErrorCode
  /** The WWW-Authenticate header: exact, a pattern, or null for none. Checked whenever error is set. */
  challenge?: string | RegExp | null
  /** For successes: the subject the route saw. */
  sub?: string | null
}

const INVALID_TOKEN = /^Bearer error="invalid_token", error_description="[^"]+"$/
const INVALID_REQUEST = /^Bearer error="invalid_request", error_description="[^"]+"$/
const INSUFFICIENT = /^Bearer error="insufficient_scope", error_description="[^"]+"$/

const CASES: Case[] = [
  { name: "a public route needs no token", path: "/public", status: 200 },
  { name: "a protected route without a token answers 401 token_missing with a bare Bearer challenge", path: "/me", status: 401, error: "token_missing", challenge: "Bearer" },
  { name: "a valid Bearer token reaches the route with its claims", path: "/me", headers: (t) => [bearer(t.alice.accessToken)], status: 200, sub: "alice" },
  { name: "the Bearer scheme is matched without regard to case", path: "/me", headers: (t) => [["authorization", `bEARER ${t.alice.accessToken}`]], status: 200, sub: "alice" },
  { name: "a token that is not a JWS answers 401 token_malformed with invalid_token", path: "/me", headers: () => [bearer("not-a-jwt")], status: 401, error: "token_malformed", challenge: INVALID_TOKEN },
  { name: "a refresh token presented as an access token answers 401 wrong_token_type", path: "/me", headers: (t) => [bearer(t.alice.refreshToken)], status: 401, error: "wrong_token_type", challenge: INVALID_TOKEN },
  { name: "a revoked token answers 401 token_revoked", path: "/me", headers: (t) => [bearer(t.revoked)], status: 401, error: "token_revoked", challenge: INVALID_TOKEN },
  { name: "two Authorization headers are refused with 400 invalid_request, even both valid", path: "/me", headers: (t) => [bearer(t.alice.accessToken), bearer(t.alice.accessToken)], status: 400, error: "invalid_request", challenge: INVALID_REQUEST },
  { name: "an Authorization header holding two credentials is refused with 400", path: "/me", headers: (t) => [["authorization", `Bearer ${t.alice.accessToken}, Bearer ${t.bob.accessToken}`]], status: 400, error: "invalid_request", challenge: INVALID_REQUEST },
  { name: "a Bearer scheme without a credential is refused with 400", path: "/me", headers: () => [["authorization", "Bearer"]], status: 400, error: "invalid_request", challenge: INVALID_REQUEST },
  { name: "a Bearer credential with a blank inside is refused with 400", path: "/me", headers: (t) => [["authorization", `Bearer ${t.alice.accessToken} extra`]], status: 400, error: "invalid_request", challenge: INVALID_REQUEST },
  { name: "an Authorization header of another scheme is no token: 401 token_missing", path: "/me", headers: () => [["authorization", "Basic YWxpY2U6c2VjcmV0"]], status: 401, error: "token_missing", challenge: "Bearer" },
  { name: "optional authentication without a token goes on unauthenticated", path: "/optional", status: 200, sub: null },
  { name: "optional authentication with a valid token sets the claims", path: "/optional", headers: (t) => [bearer(t.bob.accessToken)], status: 200, sub: "bob" },
  { name: "optional authentication still refuses a malformed token", path: "/optional", headers: () => [bearer("x.y.z")], status: 401, error: "token_malformed", challenge: INVALID_TOKEN },
  { name: "optional authentication still refuses a revoked token", path: "/optional", headers: (t) => [bearer(t.revoked)], status: 401, error: "token_revoked", challenge: INVALID_TOKEN },
  { name: "requireClaims lets a matching claim through", path: "/admin", headers: (t) => [bearer(t.bob.accessToken)], status: 200, sub: "bob" },
  { name: "requireClaims answers 403 forbidden with insufficient_scope when a claim differs", path: "/admin", headers: (t) => [bearer(t.alice.accessToken)], status: 403, error: "forbidden", challenge: INSUFFICIENT },
  { name: "requireClaims without a token answers 401, not 403", path: "/admin", status: 401, error: "token_missing", challenge: "Bearer" },
  { name: "requireClaims with a predicate lets it decide", path: "/alice-only", headers: (t) => [bearer(t.alice.accessToken)], status: 200 },
  { name: "requireClaims with a predicate refuses with 403 when it says no", path: "/alice-only", headers: (t) => [bearer(t.bob.accessToken)], status: 403, error: "forbidden", challenge: INSUFFICIENT },
  { name: "requireScope lets a token whose scope includes it through", path: "/read", headers: (t) => [bearer(t.alice.accessToken)], status: 200 },
  {
    name: "requireScope answers 403 naming the missing scope in the challenge",
    path: "/read",
    headers: (t) => [bearer(t.carol.accessToken)],
    status: 403,
    error: "forbidden",
    challenge: 'Bearer error="insufficient_scope", error_description="The token does not carry the required scope.", scope="read"',
  },
  { name: "requireScope takes scope names as RFC 6749 allows them: orders:write, a path, a URL", path: "/orders", headers: (t) => [bearer(t.alice.accessToken)], status: 200 },
  {
    name: "a missing scope with a colon, a slash or a URL is named in the challenge, quoted",
    path: "/orders",
    headers: (t) => [bearer(t.carol.accessToken)],
    status: 403,
    error: "forbidden",
    challenge: 'Bearer error="insufficient_scope", error_description="The token does not carry the required scope.", scope="orders:write orders/write https://api.example/refunds"',
  },
  { name: "the query string is not read unless enabled", path: "/me?access_token=TOKEN", status: 401, error: "token_missing", challenge: "Bearer" },
  { name: "an enabled query parameter carries the token", path: "/query/me?access_token=TOKEN", status: 200, sub: "alice" },
  { name: "a token in both the header and the query is refused with 400", path: "/query/me?access_token=TOKEN", headers: (t) => [bearer(t.alice.accessToken)], status: 400, error: "invalid_request", challenge: INVALID_REQUEST },
  { name: "a repeated token query parameter is refused with 400", path: "/query/me?access_token=TOKEN&access_token=TOKEN", status: 400, error: "invalid_request", challenge: INVALID_REQUEST },
  { name: "an empty token query parameter is refused with 400", path: "/query/me?access_token=", status: 400, error: "invalid_request", challenge: INVALID_REQUEST },
  { name: "with header: false the Authorization header is not read", path: "/header-off/me", headers: (t) => [bearer(t.alice.accessToken)], status: 401, error: "token_missing", challenge: "Bearer" },
  { name: "a cookie route still accepts a Bearer header", path: "/cookie/me", headers: (t) => [bearer(t.bob.accessToken)], status: 200, sub: "bob" },
  { name: "a cookie route without any token answers 401 token_missing", path: "/cookie/me", status: 401, error: "token_missing", challenge: "Bearer" },
  { name: "an access cookie sent twice is refused with 400", path: "/cookie/me", headers: (t) => [["cookie", `access_token=${t.alice.accessToken}; access_token=${t.bob.accessToken}`]], status: 400, error: "invalid_request", challenge: INVALID_REQUEST },
  { name: "an AuthError thrown by a route handler gets the same answer", path: "/thrown", headers: (t) => [["x-token", t.revoked]], status: 401, error: "token_revoked", challenge: INVALID_TOKEN },
]

/** Flows that need state from an earlier request (cookies from a login): each takes a running server. */
const FLOWS: Array<{ name: string; run: (base: string, tokens: Tokens) => Promise<void> }> = [
  {
    name: "login sets HttpOnly, Secure, SameSite=Strict token cookies and a script-readable CSRF cookie",
    run: async (base) => {
      const login = await call(base, "POST", "/cookie/login")
      assert.equal(login.status, 200)
      const cookies = setCookies(login)
      assert.deepEqual([...cookies.keys()].sort(), ["access_token", "csrf_token", "refresh_token"])
      const access = cookies.get("access_token")!
      assert.deepEqual(Object.fromEntries(access.attributes), { "max-age": "900", path: "/", secure: "", httponly: "", samesite: "Strict" })
      const refresh = cookies.get("refresh_token")!
      assert.deepEqual(Object.fromEntries(refresh.attributes), { "max-age": "2592000", path: "/cookie", secure: "", httponly: "", samesite: "Strict" })
      const csrf = cookies.get("csrf_token")!
      assert.deepEqual(Object.fromEntries(csrf.attributes), { "max-age": "2592000", path: "/", secure: "", samesite: "Strict" })
      assert.equal(login.json.csrf, csrf.value)
      assert.match(csrf.value, /^[A-Za-z0-9_-]{43}$/)
    },
  },
  {
    name: "a cookie token is accepted on GET without the CSRF header",
    run: async (base) => {
      const login = await call(base, "POST", "/cookie/login")
      const reply = await call(base, "GET", "/cookie/me", { headers: [cookieHeader(login, "access_token")] })
      expectSuccess(reply, 200, "alice")
    },
  },
  {
    name: "an unsafe method with a cookie token needs the CSRF header to equal the CSRF cookie",
    run: async (base) => {
      const login = await call(base, "POST", "/cookie/login")
      const cookies = cookieHeader(login, "access_token", "csrf_token")
      expectError(await call(base, "POST", "/cookie/me", { headers: [cookies] }), 403, "csrf_failed", null)
      expectError(await call(base, "POST", "/cookie/me", { headers: [cookies, ["x-csrf-token", "guess"]] }), 403, "csrf_failed", null)
      const onlyAccess = cookieHeader(login, "access_token")
      expectError(await call(base, "POST", "/cookie/me", { headers: [onlyAccess, ["x-csrf-token", login.json.csrf]] }), 403, "csrf_failed", null)
      expectSuccess(await call(base, "POST", "/cookie/me", { headers: [cookies, ["x-csrf-token", login.json.csrf]] }), 200, "alice")
    },
  },
  {
    name: "a CSRF cookie sent twice fails the CSRF check",
    run: async (base) => {
      const login = await call(base, "POST", "/cookie/login")
      const [, both] = cookieHeader(login, "access_token", "csrf_token")
      const headers = [["cookie", `${both}; csrf_token=${login.json.csrf}`], ["x-csrf-token", login.json.csrf]] as const
      expectError(await call(base, "POST", "/cookie/me", { headers }), 403, "csrf_failed", null)
    },
  },
  {
    name: "a foreign Origin is refused even with a matching CSRF pair; a configured one passes",
    run: async (base) => {
      const login = await call(base, "POST", "/cookie/login")
      const headers = [cookieHeader(login, "access_token", "csrf_token"), ["x-csrf-token", login.json.csrf]] as const
      expectError(await call(base, "POST", "/cookie/me", { headers: [...headers, ["origin", "https://evil.example"]] }), 403, "csrf_failed", null)
      expectError(await call(base, "POST", "/cookie/me", { headers: [...headers, ["origin", "null"]] }), 403, "csrf_failed", null)
      expectSuccess(await call(base, "POST", "/cookie/me", { headers: [...headers, ["origin", "https://app.example"]] }), 200, "alice")
    },
  },
  {
    name: "an explicit Bearer token wins over the cookie: no CSRF check, and no fallback when it fails",
    run: async (base, tokens) => {
      const login = await call(base, "POST", "/cookie/login")
      const cookies = cookieHeader(login, "access_token", "csrf_token")
      expectSuccess(await call(base, "POST", "/cookie/me", { headers: [cookies, bearer(tokens.bob.accessToken)] }), 200, "bob")
      expectError(await call(base, "POST", "/cookie/me", { headers: [cookies, bearer("garbage"), ["x-csrf-token", login.json.csrf]] }), 401, "token_malformed", INVALID_TOKEN)
    },
  },
  {
    name: "refresh reads the refresh cookie behind the CSRF check, rotates, and a replay revokes the session",
    run: async (base) => {
      const login = await call(base, "POST", "/cookie/login")
      const cookies = cookieHeader(login, "refresh_token", "csrf_token")
      expectError(await call(base, "POST", "/cookie/refresh", { headers: [cookies] }), 403, "csrf_failed", null)
      const refreshed = await call(base, "POST", "/cookie/refresh", { headers: [cookies, ["x-csrf-token", login.json.csrf]] })
      assert.equal(refreshed.status, 200)
      const next = setCookies(refreshed)
      assert.notEqual(next.get("refresh_token")?.value, setCookies(login).get("refresh_token")?.value)
      assert.equal(refreshed.json.csrf, next.get("csrf_token")?.value)
      expectSuccess(await call(base, "GET", "/cookie/me", { headers: [cookieHeader(refreshed, "access_token")] }), 200, "alice")
      const replay = await call(base, "POST", "/cookie/refresh", { headers: [cookies, ["x-csrf-token", login.json.csrf]] })
      expectError(replay, 401, "refresh_token_reused", INVALID_TOKEN)
      expectError(await call(base, "GET", "/cookie/me", { headers: [cookieHeader(refreshed, "access_token")] }), 401, "token_revoked", INVALID_TOKEN)
    },
  },
  {
    name: "logout revokes the session and clears the three cookies",
    run: async (base) => {
      const login = await call(base, "POST", "/cookie/login")
      const cookies = cookieHeader(login, "access_token", "csrf_token")
      const logout = await call(base, "POST", "/cookie/logout", { headers: [cookies, ["x-csrf-token", login.json.csrf]] })
      assert.equal(logout.status, 200)
      const cleared = setCookies(logout)
      for (const name of ["access_token", "refresh_token", "csrf_token"]) {
        assert.equal(cleared.get(name)?.value, "", name)
        assert.equal(cleared.get(name)?.attributes.get("max-age"), "0", name)
      }
      assert.equal(cleared.get("refresh_token")?.attributes.get("path"), "/cookie")
      expectError(await call(base, "GET", "/cookie/me", { headers: [cookieHeader(login, "access_token")] }), 401, "token_revoked", INVALID_TOKEN)
    },
  },
]

function expectError(reply: Reply, status: number, error: AuthErrorCode, challenge: string | RegExp | null | undefined): void {
  assert.equal(reply.status, status, reply.text)
  assert.match(String(reply.headers["content-type"]), /^application\/json/)
  assert.deepEqual(Object.keys(reply.json).sort(), ["error", "error_description"])
  assert.equal(reply.json.error, error)
  assert.equal(typeof reply.json.error_description, "string")
  assert.notEqual(reply.json.error_description, "")
  const header = reply.headers["www-authenticate"]
  if (challenge === null) assert.equal(header, undefined)
  else if (typeof challenge === "string") assert.equal(header, challenge)
  else if (challenge) assert.match(String(header), challenge)
}

function expectSuccess(reply: Reply, status: number, sub?: string | null): void {
  assert.equal(reply.status, status, reply.text)
  if (sub !== undefined) assert.equal(reply.json.sub, sub)
}

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)
let auth: Auth
let flaky: Auth
let flakyBackend: FlakyStore
let closed: Auth
let tokens: Tokens

before(async () => {
  process.on("unhandledRejection", onUnhandled)
  auth = createAuth({ issuer: "https://issuer.test", audience: "api", store: memoryStore() })
  flakyBackend = flakyStore(1000)
  flaky = createAuth({ issuer: "https://issuer.test", audience: "api", store: flakyBackend, maxStaleness: "5s" })
  closed = createAuth({ issuer: "https://issuer.test", audience: "api", store: memoryStore() })
  await closed.close()
  const revoked = await auth.issue("dave")
  await auth.revoke(revoked.accessToken)
  tokens = {
    alice: await auth.issue("alice", { claims: { role: "reader", scope: "read write orders:write orders/write https://api.example/refunds" } }),
    bob: await auth.issue("bob", { claims: { role: ["admin", "ops"] } }),
    carol: await auth.issue("carol", { claims: { scope: "write" } }),
    revoked: revoked.accessToken,
  }
})

after(async () => {
  process.off("unhandledRejection", onUnhandled)
  await auth.close()
  await flaky.close()
  assert.deepEqual(unhandled, [], "no request may leave an unhandled rejection behind")
})

for (const adapter of ADAPTERS) {
  describe(`the ${adapter} adapter`, () => {
    let server: Running

    before(async () => {
      server = await start(adapter, { auth, flaky, closed })
    })

    after(() => server.close())

    for (const entry of CASES) {
      test(entry.name, async () => {
        const path = entry.path.replaceAll("TOKEN", tokens.alice.accessToken)
        const reply = await call(server.base, entry.method ?? "GET", path, { headers: entry.headers?.(tokens) ?? [] })
        if (entry.error) expectError(reply, entry.status, entry.error, entry.challenge)
        else expectSuccess(reply, entry.status, entry.sub)
      })
    }

    for (const flow of FLOWS) test(flow.name, () => flow.run(server.base, tokens))

    test("an unreachable store answers 503 store_unavailable, never a 500 or an unhandled rejection", async (t) => {
      const pair = await flaky.issue("erin")
      expectSuccess(await call(server.base, "GET", "/flaky/me", { headers: [bearer(pair.accessToken)] }), 200, "erin")
      flakyBackend.down = true
      try {
        t.mock.timers.enable({ apis: ["Date"], now: Date.now() + 60_000 })
        expectError(await call(server.base, "GET", "/flaky/me", { headers: [bearer(pair.accessToken)] }), 503, "store_unavailable", null)
      } finally {
        flakyBackend.down = false
        t.mock.timers.reset()
      }
      expectSuccess(await call(server.base, "GET", "/flaky/me", { headers: [bearer(pair.accessToken)] }), 200, "erin")
    })

    test("an error that is not an AuthError takes the framework's own error path (500)", async (t) => {
      const logged = t.mock.method(console, "error", () => undefined)
      for (const path of ["/closed/me", "/boom"]) {
        const reply = await call(server.base, "GET", path, { headers: [bearer(tokens.alice.accessToken)] })
        assert.equal(reply.status, 500, path)
        assert.equal(reply.json?.error_description, undefined, "not answered as an AuthError")
        assert.equal(reply.headers["www-authenticate"], undefined)
      }
      if (adapter === "hono") assert.equal(logged.mock.callCount(), 2, "Hono's default handler logs the error")
    })
  })
}
