// The shared adapter layer on its own: option checks at construction, the answers to each error code, the
// guards and the cookies. Behaviour over HTTP is in matrix.test.ts.
import assert from "node:assert/strict"
import { describe, test } from "node:test"
import { AuthError, type Claims, type TokenPair } from "../../src/index.ts"
import {
  authenticateReader,
  claimsGuard,
  cookieValues,
  errorAnswer,
  listClaim,
  loginCookies,
  logoutCookies,
  scopeGuard,
  tokenReader,
  type RequestView,
} from "../../src/adapters/shared/index.ts"

interface FakeRequest {
  method: string
  url: string
  headers: Record<string, string>
}

const view: RequestView<FakeRequest> = {
  method: (request) => request.method,
  header: (request, name) => request.headers[name],
  url: (request) => request.url,
}

const claims = (extra: Record<string, unknown>): Claims => ({ iss: "i", sub: "s", aud: "a", exp: 2, iat: 1, jti: "j", sid: "x", gen: 0, ...extra })

const pair: TokenPair = { accessToken: "a.b.c", refreshToken: "d.e.f", tokenType: "Bearer", expiresIn: 900, refreshExpiresIn: 3600, sessionId: "s" }

describe("adapter options", () => {
  test("are checked when the middleware is made, with a TypeError", () => {
    const bad: unknown[] = [
      null,
      { header: "yes" },
      { query: "" },
      { query: 1 },
      { header: false },
      { cookie: "yes" },
      { cookie: { sameSite: "None", secure: false } },
      { cookie: { sameSite: "strict" } },
      { cookie: { origins: ["https://app.example/"] } },
      { cookie: { origins: "https://app.example" } },
      { cookie: { accessName: "a b" } },
      { cookie: { accessName: "same", csrfName: "same" } },
      { cookie: { csrfHeader: "x:y" } },
      { cookie: { path: "/a;b" } },
      { cookie: { domain: "" } },
    ]
    for (const options of bad) assert.throws(() => tokenReader(view, options as never), TypeError, JSON.stringify(options))
    assert.throws(() => authenticateReader(view, { optional: "yes" as never }), TypeError)
    assert.throws(() => tokenReader(view, {}, "id" as never), TypeError)
  })

  test("cookie mode alone, with the header off, is a valid configuration", () => {
    const read = tokenReader(view, { header: false, cookie: true })
    const request = { method: "GET", url: "/", headers: { authorization: "Bearer a.b.c", cookie: "access_token=x.y.z" } }
    assert.equal(read(request), "x.y.z")
  })

  test("the refresh type reads the refresh cookie", () => {
    const read = tokenReader(view, { cookie: true }, "refresh")
    assert.equal(read({ method: "GET", url: "/", headers: { cookie: "access_token=a; refresh_token=r" } }), "r")
  })

  test("an empty auth cookie counts as no token", () => {
    const read = tokenReader(view, { cookie: true })
    assert.equal(read({ method: "POST", url: "/", headers: { cookie: "access_token=" } }), null)
  })

  test("an explicit query token wins over the cookie, without a CSRF check", () => {
    const read = tokenReader(view, { cookie: true, query: "access_token" })
    assert.equal(read({ method: "POST", url: "/x?access_token=q.q.q", headers: { cookie: "access_token=c.c.c" } }), "q.q.q")
  })
})

describe("cookieValues", () => {
  test("finds every value of a name, unquoted, and no prefix or suffix match", () => {
    assert.deepEqual(cookieValues('a=1; xa=2; a="3"; a ; ab=4', "a"), ["1", "3"])
    assert.deepEqual(cookieValues("", "a"), [])
  })
})

describe("errorAnswer", () => {
  test("gives every 401 but token_missing an invalid_token challenge, quoting-safe", () => {
    const answer = errorAnswer(new AuthError("token_invalid", 'Bad "quote" \\ and é.'))
    assert.equal(answer.status, 401)
    assert.deepEqual(answer.body, { error: "token_invalid", error_description: 'Bad "quote" \\ and é.' })
    assert.deepEqual(answer.headers, { "www-authenticate": 'Bearer error="invalid_token", error_description="Bad quote  and ."' })
  })

  test("gives token_missing a bare Bearer challenge", () => {
    assert.deepEqual(errorAnswer(new AuthError("token_missing")).headers, { "www-authenticate": "Bearer" })
  })

  test("answers csrf_failed, session_limit_reached and store_unavailable without a challenge", () => {
    for (const code of ["csrf_failed", "session_limit_reached", "store_unavailable"] as const) {
      const answer = errorAnswer(new AuthError(code))
      assert.deepEqual(answer.headers, {}, code)
      assert.equal(answer.body.error, code)
    }
    assert.equal(errorAnswer(new AuthError("store_unavailable")).status, 503)
  })

  test("every code is answered with its HTTP status, the one the README's table gives", () => {
    const statuses = {
      token_missing: 401,
      token_malformed: 401,
      token_invalid: 401,
      token_expired: 401,
      token_not_yet_valid: 401,
      token_revoked: 401,
      wrong_token_type: 401,
      refresh_token_reused: 401,
      session_limit_reached: 403,
      forbidden: 403,
      csrf_failed: 403,
      invalid_request: 400,
      store_unavailable: 503,
    } as const
    for (const [code, status] of Object.entries(statuses)) {
      assert.equal(errorAnswer(new AuthError(code as keyof typeof statuses)).status, status, code)
    }
  })
})

describe("guards", () => {
  test("requireClaims matches a value, one of several, or an element of an array claim", () => {
    const guard = claimsGuard({ role: ["admin", "ops"], tenant: 7 })
    guard(claims({ role: "ops", tenant: 7 }))
    guard(claims({ role: ["reader", "admin"], tenant: 7 }))
    assert.throws(() => guard(claims({ role: "reader", tenant: 7 })), { code: "forbidden" })
    assert.throws(() => guard(claims({ role: "admin", tenant: "7" })), { code: "forbidden" })
    assert.throws(() => guard(undefined), { code: "token_missing" })
  })

  test("requireClaims reads only the token's own claims, never inherited properties", () => {
    const guard = claimsGuard({ toString: "x" })
    assert.throws(() => guard(claims({})), { code: "forbidden" })
  })

  test("requireClaims refuses empty or non-primitive requirements at construction", () => {
    assert.throws(() => claimsGuard({}), TypeError)
    assert.throws(() => claimsGuard({ role: [] }), TypeError)
    assert.throws(() => claimsGuard({ role: { admin: true } as never }), TypeError)
    assert.throws(() => claimsGuard(null as never), TypeError)
  })

  test("requireClaims reads roles, groups and entitlements only as arrays of strings (RFC 9068 §2.2.3.1)", () => {
    const guard = claimsGuard({ roles: "admin" })
    guard(claims({ roles: ["reader", "admin"] }))
    for (const roles of ["admin", { admin: true }, { 0: "admin", length: 1 }, ["admin", 1], ["admin", null], [["admin"]], 1, true, null]) {
      assert.throws(() => guard(claims({ roles })), { code: "forbidden" }, JSON.stringify(roles))
    }
    claimsGuard({ groups: ["ops", "sre"] })(claims({ groups: ["sre"] }))
    assert.throws(() => claimsGuard({ groups: "ops" })(claims({ groups: "ops" })), { code: "forbidden" })
    assert.throws(() => claimsGuard({ entitlements: "x" })(claims({ entitlements: "x" })), { code: "forbidden" })
    // Any other claim keeps its scalar match.
    claimsGuard({ role: "admin" })(claims({ role: "admin" }))
  })

  test("requireClaims refuses a value other than a string for roles, groups or entitlements at construction", () => {
    assert.throws(() => claimsGuard({ roles: 1 }), TypeError)
    assert.throws(() => claimsGuard({ groups: ["ops", true] }), TypeError)
    assert.throws(() => claimsGuard({ entitlements: false }), TypeError)
  })

  test("listClaim: the strings of an array of strings; null for an absent, inherited or other claim", () => {
    assert.deepEqual(listClaim(claims({ roles: ["admin", "ops"] }), "roles"), ["admin", "ops"])
    assert.deepEqual(listClaim(claims({ roles: [] }), "roles"), [])
    for (const roles of [undefined, "admin", { admin: true }, ["admin", 1], [{}], 7]) {
      assert.equal(listClaim(claims(roles === undefined ? {} : { roles }), "roles"), null, JSON.stringify(roles))
    }
    assert.equal(listClaim(claims({}), "constructor"), null)
  })

  test("requireClaims with a predicate passes only on true", () => {
    assert.throws(() => claimsGuard(() => "yes" as never)(claims({})), { code: "forbidden" })
    claimsGuard((c) => c.sub === "s")(claims({}))
  })

  test("requireScope reads a space-separated scope or an array, and needs every scope", () => {
    const guard = scopeGuard(["read", "write"])
    guard(claims({ scope: "write admin read" }))
    guard(claims({ scope: ["read", "write"] }))
    assert.throws(() => guard(claims({ scope: "read" })), { code: "forbidden", scope: "read write" })
    assert.throws(() => guard(claims({ scope: "readwrite" })), { code: "forbidden" })
    assert.throws(() => scopeGuard([]), TypeError)
    assert.throws(() => scopeGuard(["a b"]), TypeError)
    assert.throws(() => scopeGuard(['a"']), TypeError)
    assert.throws(() => scopeGuard(["a\\b"]), TypeError)
    assert.throws(() => scopeGuard(["é"]), TypeError)
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
    const wide = scopeGuard(["read:users", "orders/write", "https://api.example/read", "a!#$%&'()*+,-./:;<=>?@[]^_`{|}~"])
    wide(claims({ scope: "read:users orders/write https://api.example/read a!#$%&'()*+,-./:;<=>?@[]^_`{|}~" }))
  })
})

describe("auth cookies", () => {
  test("carry the configured attributes; only the CSRF cookie is readable by scripts", () => {
    const { cookies, csrfToken } = loginCookies(pair, { domain: "example.com", secure: false, sameSite: "Lax", refreshPath: "/auth" })
    assert.deepEqual(cookies, [
      "access_token=a.b.c; Max-Age=900; Path=/; Domain=example.com; HttpOnly; SameSite=Lax",
      "refresh_token=d.e.f; Max-Age=3600; Path=/auth; Domain=example.com; HttpOnly; SameSite=Lax",
      `csrf_token=${csrfToken}; Max-Age=3600; Path=/; Domain=example.com; SameSite=Lax`,
    ])
  })

  test("a new CSRF token each login", () => {
    assert.notEqual(loginCookies(pair).csrfToken, loginCookies(pair).csrfToken)
  })

  test("are cleared with the same path and attributes", () => {
    assert.deepEqual(logoutCookies({ refreshPath: "/auth" }), [
      "access_token=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict",
      "refresh_token=; Max-Age=0; Path=/auth; Secure; HttpOnly; SameSite=Strict",
      "csrf_token=; Max-Age=0; Path=/; Secure; SameSite=Strict",
    ])
    assert.throws(() => logoutCookies(false), TypeError)
  })
})
