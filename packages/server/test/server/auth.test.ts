import assert from "node:assert/strict"
import crypto from "node:crypto"
import { request as httpRequest } from "node:http"
import { syncBuiltinESMExports } from "node:module"
import { after, before, describe, mock, test } from "node:test"
import { call, PASSWORD, signIn, testServer, type TestServer } from "../helpers/server.ts"

let server: TestServer
let url: string

before(async () => {
  server = await testServer()
  url = server.url
})
after(() => server.close())

describe("POST /auth/register", () => {
  test("creates an account: 201 with its public fields only", async () => {
    const answer = await call(url, "POST", "/auth/register", { json: { username: "Reg-User", password: PASSWORD } })
    assert.equal(answer.status, 201)
    assert.deepEqual(Object.keys(answer.body).sort(), ["created_at", "email", "email_verified", "roles", "sub", "suspended_at", "username"])
    assert.equal(answer.body.username, "reg-user")
    assert.deepEqual(answer.body.roles, [])
    assert.equal(answer.body.suspended_at, null)
  })

  test("refuses a taken username, a weak password and missing fields with 400 invalid_request", async () => {
    await call(url, "POST", "/auth/register", { json: { username: "taken", password: PASSWORD } })
    for (const json of [
      { username: "TAKEN", password: PASSWORD },
      { username: "shorty", password: "short" },
      { username: "x y", password: PASSWORD },
      { username: "nopass" },
      { password: PASSWORD },
      { username: 42, password: PASSWORD },
    ]) {
      const answer = await call(url, "POST", "/auth/register", { json })
      assert.equal(answer.status, 400, JSON.stringify(json))
      assert.equal(answer.body.error, "invalid_request")
    }
    assert.equal((await call(url, "POST", "/auth/register")).body.error, "invalid_request")
  })

  test("with REVOCABLE_REGISTRATION=closed: 403 forbidden", async () => {
    const closed = await testServer({ REVOCABLE_REGISTRATION: "closed" })
    try {
      const answer = await call(closed.url, "POST", "/auth/register", { json: { username: "someone", password: PASSWORD } })
      assert.equal(answer.status, 403)
      assert.equal(answer.body.error, "forbidden")
      assert.equal(answer.body.error_description, "Registration is closed.")
    } finally {
      await closed.close()
    }
  })
})

describe("POST /auth/login and GET /me", () => {
  test("login answers a pair with Cache-Control: no-store; /me names the user, session and token", async () => {
    await call(url, "POST", "/auth/register", { json: { username: "lena", password: PASSWORD } })
    const login = await call(url, "POST", "/auth/login", { json: { username: "lena", password: PASSWORD, device: "Lena's laptop" } })
    assert.equal(login.status, 200)
    assert.equal(login.headers.get("cache-control"), "no-store")
    assert.equal(login.body.token_type, "Bearer")
    assert.equal(login.body.expires_in, 900)
    assert.equal(typeof login.body.refresh_token, "string")
    const me = await call(url, "GET", "/me", { token: login.body.access_token })
    assert.equal(me.status, 200)
    assert.equal(me.body.username, "lena")
    assert.equal(me.body.session_id, login.body.session_id)
    const payload = JSON.parse(Buffer.from(login.body.access_token.split(".")[1], "base64url").toString())
    assert.equal(me.body.jti, payload.jti)
    assert.equal(me.body.sub, payload.sub)
    assert.equal(payload.client_id, "revocable")
    assert.deepEqual(payload.roles, [])
    const sessions = await call(url, "GET", "/auth/sessions", { token: login.body.access_token })
    assert.equal(sessions.body[0].device, "Lena's laptop")
  })

  test("a form body is refused outside /oauth (415): an HTML form on another site cannot post to /auth", async () => {
    await call(url, "POST", "/auth/register", { json: { username: "formuser", password: PASSWORD } })
    for (const path of ["/auth/register", "/auth/login"]) {
      const answer = await call(url, "POST", path, { form: { username: "formuser", password: PASSWORD, cookie: "true" } })
      assert.equal(answer.status, 415, path)
      assert.equal(answer.body.error, "invalid_request", path)
      assert.equal(answer.headers.get("set-cookie"), null, path)
    }
  })

  test("an unknown user and a wrong password get the same status, body and challenge", async () => {
    await call(url, "POST", "/auth/register", { json: { username: "known", password: PASSWORD } })
    const wrong = await call(url, "POST", "/auth/login", { json: { username: "known", password: "not the password" } })
    const unknown = await call(url, "POST", "/auth/login", { json: { username: "unknown", password: "not the password" } })
    assert.equal(wrong.status, 401)
    assert.equal(unknown.status, wrong.status)
    assert.equal(unknown.text, wrong.text)
    assert.deepEqual(wrong.body, { error: "invalid_credentials", error_description: "Invalid username or password." })
    assert.equal(unknown.headers.get("www-authenticate"), wrong.headers.get("www-authenticate"))
  })

  test("an unknown user and a wrong password cost the same: one argon2id derivation of the same cost, at /auth/login and /oauth/token", async () => {
    const quiet = await testServer({ REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000", REVOCABLE_LOGIN_LIMIT_IP: "1000" })
    const calls: { memory: number; passes: number; parallelism: number; tagLength: number }[] = []
    try {
      await call(quiet.url, "POST", "/auth/register", { json: { username: "existing", password: PASSWORD } })
      const original = crypto.argon2
      mock.method(crypto, "argon2", (algorithm: string, params: crypto.Argon2Parameters, callback: (error: Error | null, key: Buffer) => void) => {
        assert.equal(algorithm, "argon2id")
        calls.push({ memory: params.memory, passes: params.passes, parallelism: params.parallelism, tagLength: params.tagLength })
        return original(algorithm as "argon2id", params, callback)
      })
      syncBuiltinESMExports()
      const attempts = {
        login: (username: string) => call(quiet.url, "POST", "/auth/login", { json: { username, password: "not the password" } }),
        grant: (username: string) => call(quiet.url, "POST", "/oauth/token", { form: { grant_type: "password", username, password: "not the password" } }),
      }
      for (const [endpoint, attempt] of Object.entries(attempts)) {
        const wrong = await attempt("existing")
        const wrongCalls = calls.splice(0)
        const unknown = await attempt("nobody-here")
        const unknownCalls = calls.splice(0)
        assert.equal(unknown.status, wrong.status, endpoint)
        assert.equal(unknown.text, wrong.text, endpoint)
        assert.equal(unknown.headers.get("www-authenticate"), wrong.headers.get("www-authenticate"), endpoint)
        assert.deepEqual(wrongCalls, [{ memory: 19_456, passes: 2, parallelism: 1, tagLength: 32 }], endpoint)
        assert.deepEqual(unknownCalls, wrongCalls, endpoint)
      }
    } finally {
      mock.restoreAll()
      syncBuiltinESMExports()
      await quiet.close()
    }
  })

  test("/me without a token: 401 token_missing; with garbage: 401 token_malformed", async () => {
    const missing = await call(url, "GET", "/me")
    assert.equal(missing.status, 401)
    assert.equal(missing.body.error, "token_missing")
    assert.equal(missing.headers.get("www-authenticate"), "Bearer")
    const garbage = await call(url, "GET", "/me", { token: "not.a.token" })
    assert.equal(garbage.status, 401)
    assert.equal(garbage.body.error, "token_malformed")
  })

  test("a refresh token is refused as an access token", async () => {
    const pair = await signIn(url, "wrongtype")
    const answer = await call(url, "GET", "/me", { token: pair.refresh_token })
    assert.equal(answer.status, 401)
    assert.equal(answer.body.error, "wrong_token_type")
  })

  test("two Authorization headers: 400 invalid_request, even when one of them is valid", async () => {
    const pair = await signIn(url, "twoheaders")
    const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const target = new URL("/me", url)
      const request = httpRequest(
        { host: target.hostname, port: target.port, path: target.pathname, headers: ["host", target.host, "authorization", `Bearer ${pair.access_token}`, "authorization", "Bearer other"] },
        (response) => {
          let body = ""
          response.on("data", (chunk) => (body += chunk))
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
        },
      )
      request.on("error", reject)
      request.end()
    })
    assert.equal(status.status, 400)
    assert.equal(JSON.parse(status.body).error, "invalid_request")
  })
})

describe("POST /auth/refresh", () => {
  test("rotates: a new pair, and the spent refresh token replayed revokes the session", async () => {
    const first = await signIn(url, "rotator")
    const refreshed = await call(url, "POST", "/auth/refresh", { json: { refresh_token: first.refresh_token } })
    assert.equal(refreshed.status, 200)
    assert.equal(refreshed.headers.get("cache-control"), "no-store")
    assert.equal(refreshed.body.session_id, first.session_id)
    assert.notEqual(refreshed.body.refresh_token, first.refresh_token)
    assert.equal((await call(url, "GET", "/me", { token: refreshed.body.access_token })).status, 200)

    const replay = await call(url, "POST", "/auth/refresh", { json: { refresh_token: first.refresh_token } })
    assert.equal(replay.status, 401)
    assert.equal(replay.body.error, "refresh_token_reused")
    assert.equal((await call(url, "GET", "/me", { token: refreshed.body.access_token })).body.error, "token_revoked")
    assert.equal((await call(url, "POST", "/auth/refresh", { json: { refresh_token: refreshed.body.refresh_token } })).body.error, "token_revoked")
  })

  test("without a refresh token: 400 invalid_request; with an access token: 401 wrong_token_type", async () => {
    const missing = await call(url, "POST", "/auth/refresh", { json: {} })
    assert.equal(missing.status, 400)
    assert.equal(missing.body.error, "invalid_request")
    const pair = await signIn(url, "refreshtype")
    const wrong = await call(url, "POST", "/auth/refresh", { json: { refresh_token: pair.access_token } })
    assert.equal(wrong.status, 401)
    assert.equal(wrong.body.error, "wrong_token_type")
  })
})

describe("logout", () => {
  test("POST /auth/logout revokes the session: its access and refresh tokens are refused", async () => {
    const pair = await signIn(url, "leaver")
    const logout = await call(url, "POST", "/auth/logout", { token: pair.access_token })
    assert.equal(logout.status, 204)
    const me = await call(url, "GET", "/me", { token: pair.access_token })
    assert.equal(me.status, 401)
    assert.equal(me.body.error, "token_revoked")
    assert.equal((await call(url, "POST", "/auth/refresh", { json: { refresh_token: pair.refresh_token } })).body.error, "token_revoked")
    assert.equal((await call(url, "POST", "/auth/logout", { token: pair.access_token })).status, 401)
  })

  test("POST /auth/logout with the refresh token of another of the user's sessions revokes that one too", async () => {
    const one = await signIn(url, "twosessions")
    const two = await signIn(url, "twosessions", PASSWORD, false)
    assert.equal((await call(url, "POST", "/auth/logout", { token: one.access_token, json: { refresh_token: two.refresh_token } })).status, 204)
    assert.equal((await call(url, "GET", "/me", { token: two.access_token })).body.error, "token_revoked")
  })

  test("log out everywhere, then log in again at once: the old tokens are refused, the new ones accepted", async () => {
    const laptop = await signIn(url, "everywhere")
    const phone = await signIn(url, "everywhere", PASSWORD, false)
    assert.equal((await call(url, "POST", "/auth/logout-all", { token: laptop.access_token })).status, 204)
    const again = await signIn(url, "everywhere", PASSWORD, false)
    for (const old of [laptop, phone]) {
      assert.equal((await call(url, "GET", "/me", { token: old.access_token })).body.error, "token_revoked")
      assert.equal((await call(url, "POST", "/auth/refresh", { json: { refresh_token: old.refresh_token } })).body.error, "token_revoked")
    }
    assert.equal((await call(url, "GET", "/me", { token: again.access_token })).status, 200)
    assert.equal((await call(url, "POST", "/auth/refresh", { json: { refresh_token: again.refresh_token } })).status, 200)
  })
})

describe("sessions", () => {
  test("GET /auth/sessions lists the user's sessions and marks the current one", async () => {
    const one = await signIn(url, "lister")
    const two = await signIn(url, "lister", PASSWORD, false)
    const answer = await call(url, "GET", "/auth/sessions", { token: two.access_token })
    assert.equal(answer.status, 200)
    assert.deepEqual(answer.body.map((entry: { session_id: string }) => entry.session_id).sort(), [one.session_id, two.session_id].sort())
    const current = answer.body.find((entry: { current: boolean }) => entry.current)
    assert.equal(current.session_id, two.session_id)
    assert.match(current.created_at, /^\d{4}-\d\d-\d\dT/)
  })

  test("DELETE /auth/sessions/{sid} revokes one own session; another user's or an unknown one is 404", async () => {
    const one = await signIn(url, "pruner")
    const two = await signIn(url, "pruner", PASSWORD, false)
    const stranger = await signIn(url, "stranger")
    assert.equal((await call(url, "DELETE", `/auth/sessions/${stranger.session_id}`, { token: one.access_token })).status, 404)
    assert.equal((await call(url, "DELETE", "/auth/sessions/unknown", { token: one.access_token })).status, 404)
    assert.equal((await call(url, "GET", "/me", { token: stranger.access_token })).status, 200)
    assert.equal((await call(url, "DELETE", `/auth/sessions/${two.session_id}`, { token: one.access_token })).status, 204)
    assert.equal((await call(url, "GET", "/me", { token: two.access_token })).body.error, "token_revoked")
    assert.equal((await call(url, "GET", "/me", { token: one.access_token })).status, 200)
  })
})

describe("POST /auth/password", () => {
  test("changes the password and revokes every other session, not this one", async () => {
    const here = await signIn(url, "changer")
    const there = await signIn(url, "changer", PASSWORD, false)
    const changed = await call(url, "POST", "/auth/password", {
      token: here.access_token,
      json: { current_password: PASSWORD, new_password: "a brand new passphrase" },
    })
    assert.equal(changed.status, 200)
    assert.deepEqual(changed.body, { revoked_sessions: 1 })
    assert.equal((await call(url, "GET", "/me", { token: there.access_token })).body.error, "token_revoked")
    assert.equal((await call(url, "POST", "/auth/refresh", { json: { refresh_token: there.refresh_token } })).body.error, "token_revoked")
    assert.equal((await call(url, "GET", "/me", { token: here.access_token })).status, 200)
    assert.equal((await call(url, "POST", "/auth/login", { json: { username: "changer", password: PASSWORD } })).status, 401)
    assert.equal((await call(url, "POST", "/auth/login", { json: { username: "changer", password: "a brand new passphrase" } })).status, 200)
  })

  test("a wrong current password is 401 invalid_credentials; a weak new one 400; no token 401", async () => {
    const pair = await signIn(url, "careful")
    const wrong = await call(url, "POST", "/auth/password", { token: pair.access_token, json: { current_password: "nope nope", new_password: "a brand new passphrase" } })
    assert.equal(wrong.status, 401)
    assert.equal(wrong.body.error, "invalid_credentials")
    const weak = await call(url, "POST", "/auth/password", { token: pair.access_token, json: { current_password: PASSWORD, new_password: "short" } })
    assert.equal(weak.status, 400)
    assert.equal(weak.body.error, "invalid_request")
    assert.equal((await call(url, "POST", "/auth/password", { json: { current_password: PASSWORD, new_password: "x".repeat(12) } })).status, 401)
  })
})

describe("cookie mode", () => {
  function cookiesOf(headers: Headers): Map<string, string> {
    const jar = new Map<string, string>()
    for (const line of headers.getSetCookie()) {
      const [pair] = line.split(";")
      const [name, value] = (pair as string).split("=") as [string, string]
      jar.set(name, value)
    }
    return jar
  }
  const header = (jar: Map<string, string>) => [...jar].map(([name, value]) => `${name}=${value}`).join("; ")

  test("login with cookie: true sets HttpOnly token cookies, the refresh one scoped to /auth, and answers a CSRF token", async () => {
    await call(url, "POST", "/auth/register", { json: { username: "browser", password: PASSWORD } })
    const login = await call(url, "POST", "/auth/login", { json: { username: "browser", password: PASSWORD, cookie: true } })
    assert.equal(login.status, 200)
    assert.equal(login.body.refresh_token, undefined)
    assert.equal(typeof login.body.csrf_token, "string")
    const lines = login.headers.getSetCookie()
    const refresh = lines.find((line) => line.startsWith("refresh_token="))
    assert.match(refresh ?? "", /; Path=\/auth; HttpOnly; SameSite=Strict$/)
    assert.match(lines.find((line) => line.startsWith("access_token=")) ?? "", /HttpOnly/)
    const csrf = lines.find((line) => line.startsWith("csrf_token=")) ?? ""
    assert.doesNotMatch(csrf, /HttpOnly/)
    assert.equal(cookiesOf(login.headers).get("csrf_token"), login.body.csrf_token)
  })

  test("refresh reads the refresh cookie and needs the CSRF header; logout through cookies clears them", async () => {
    const login = await call(url, "POST", "/auth/login", { json: { username: "browser", password: PASSWORD, cookie: true } })
    const jar = cookiesOf(login.headers)
    const noCsrf = await call(url, "POST", "/auth/refresh", { headers: { cookie: header(jar) } })
    assert.equal(noCsrf.status, 403)
    assert.equal(noCsrf.body.error, "csrf_failed")
    const badCsrf = await call(url, "POST", "/auth/refresh", { headers: { cookie: header(jar), "x-csrf-token": "forged" } })
    assert.equal(badCsrf.body.error, "csrf_failed")

    const refreshed = await call(url, "POST", "/auth/refresh", { headers: { cookie: header(jar), "x-csrf-token": login.body.csrf_token } })
    assert.equal(refreshed.status, 200)
    assert.equal(refreshed.body.refresh_token, undefined)
    const next = cookiesOf(refreshed.headers)
    assert.notEqual(next.get("refresh_token"), jar.get("refresh_token"))

    const me = await call(url, "GET", "/me", { headers: { cookie: header(next) } })
    assert.equal(me.status, 200)
    const logoutNoCsrf = await call(url, "POST", "/auth/logout", { headers: { cookie: header(next) } })
    assert.equal(logoutNoCsrf.body.error, "csrf_failed")
    const logout = await call(url, "POST", "/auth/logout", { headers: { cookie: header(next), "x-csrf-token": refreshed.body.csrf_token } })
    assert.equal(logout.status, 204)
    assert.ok(logout.headers.getSetCookie().every((line) => line.includes("Max-Age=0")))
    const after = await call(url, "POST", "/auth/refresh", { headers: { cookie: header(next), "x-csrf-token": refreshed.body.csrf_token } })
    assert.equal(after.body.error, "token_revoked")
  })

  test("every state-changing request authenticated by the cookie needs the CSRF header and an allowed Origin: 403 csrf_failed, nothing changed", async () => {
    const strict = await testServer({ REVOCABLE_COOKIE_ORIGINS: "https://app.example" })
    try {
      await call(strict.url, "POST", "/auth/register", { json: { username: "csrfvictim", password: PASSWORD } })
      const other = await signIn(strict.url, "csrfvictim", PASSWORD, false)
      const login = await call(strict.url, "POST", "/auth/login", { json: { username: "csrfvictim", password: PASSWORD, cookie: true } })
      const jar = cookiesOf(login.headers)
      const csrf = login.body.csrf_token as string
      const requests: [string, string, unknown][] = [
        ["POST", "/auth/logout", undefined],
        ["POST", "/auth/logout-all", undefined],
        ["POST", "/auth/password", { current_password: PASSWORD, new_password: "a brand new passphrase" }],
        ["DELETE", `/auth/sessions/${other.session_id}`, undefined],
      ]
      const forged: Record<string, string>[] = [{}, { "x-csrf-token": "forged" }, { "x-csrf-token": csrf, origin: "https://evil.example" }]
      for (const [method, path, json] of requests) {
        for (const headers of forged) {
          const answer = await call(strict.url, method, path, { ...(json === undefined ? {} : { json }), headers: { cookie: header(jar), ...headers } })
          assert.equal(answer.status, 403, `${method} ${path} ${JSON.stringify(headers)}`)
          assert.equal(answer.body.error, "csrf_failed", `${method} ${path} ${JSON.stringify(headers)}`)
        }
      }
      assert.equal((await call(strict.url, "GET", "/me", { headers: { cookie: header(jar) } })).status, 200, "a safe request needs no CSRF header")
      assert.equal((await call(strict.url, "GET", "/me", { token: other.access_token })).status, 200, "the other session lives on")
      assert.equal((await call(strict.url, "POST", "/auth/login", { json: { username: "csrfvictim", password: PASSWORD } })).status, 200, "the password is unchanged")
      const allowed = await call(strict.url, "POST", "/auth/logout-all", { headers: { cookie: header(jar), "x-csrf-token": csrf, origin: "https://app.example" } })
      assert.equal(allowed.status, 204)
      assert.equal((await call(strict.url, "GET", "/me", { token: other.access_token })).body.error, "token_revoked")
    } finally {
      await strict.close()
    }
  })

  test("a token in the Authorization header wins over the cookie, which is then ignored", async () => {
    const pair = await signIn(url, "headerwins")
    const me = await call(url, "GET", "/me", { token: pair.access_token, headers: { cookie: "access_token=garbage" } })
    assert.equal(me.status, 200)
    assert.equal(me.body.username, "headerwins")
  })

  test("with REVOCABLE_COOKIE_ORIGINS, a foreign Origin is refused: 403 csrf_failed", async () => {
    const strict = await testServer({ REVOCABLE_COOKIE_ORIGINS: "https://app.example" })
    try {
      await call(strict.url, "POST", "/auth/register", { json: { username: "origin", password: PASSWORD } })
      const foreign = await call(strict.url, "POST", "/auth/login", {
        json: { username: "origin", password: PASSWORD, cookie: true },
        headers: { origin: "https://evil.example" },
      })
      assert.equal(foreign.status, 403)
      assert.equal(foreign.body.error, "csrf_failed")
      const login = await call(strict.url, "POST", "/auth/login", {
        json: { username: "origin", password: PASSWORD, cookie: true },
        headers: { origin: "https://app.example" },
      })
      assert.equal(login.status, 200)
      const jar = cookiesOf(login.headers)
      const refresh = await call(strict.url, "POST", "/auth/refresh", {
        headers: { cookie: header(jar), "x-csrf-token": login.body.csrf_token, origin: "https://evil.example" },
      })
      assert.equal(refresh.status, 403)
      assert.equal(refresh.body.error, "csrf_failed")
    } finally {
      await strict.close()
    }
  })
})

describe("login rate limits", () => {
  test("repeated attempts on one account: 429 rate_limited with Retry-After, even with the right password", async () => {
    const limited = await testServer({ REVOCABLE_LOGIN_LIMIT_ACCOUNT: "3", REVOCABLE_LOGIN_WINDOW: "10m" })
    try {
      await call(limited.url, "POST", "/auth/register", { json: { username: "target", password: PASSWORD } })
      for (let attempt = 0; attempt < 3; attempt++) {
        assert.equal((await call(limited.url, "POST", "/auth/login", { json: { username: "target", password: "guess number x" } })).status, 401)
      }
      const blocked = await call(limited.url, "POST", "/auth/login", { json: { username: "TARGET", password: PASSWORD } })
      assert.equal(blocked.status, 429)
      assert.equal(blocked.body.error, "rate_limited")
      const retryAfter = Number(blocked.headers.get("retry-after"))
      assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 600, String(retryAfter))
      const grant = await call(limited.url, "POST", "/oauth/token", { form: { grant_type: "password", username: "target", password: PASSWORD } })
      assert.equal(grant.status, 429)
      assert.ok(Number(grant.headers.get("retry-after")) > 0)
      assert.equal((await call(limited.url, "POST", "/auth/login", { json: { username: "other", password: PASSWORD } })).status, 401)
    } finally {
      await limited.close()
    }
  })

  test("repeated attempts from one IP across accounts: 429 with Retry-After", async () => {
    const limited = await testServer({ REVOCABLE_LOGIN_LIMIT_IP: "4" })
    try {
      for (let attempt = 0; attempt < 4; attempt++) {
        assert.equal((await call(limited.url, "POST", "/auth/login", { json: { username: `user${attempt}`, password: PASSWORD } })).status, 401)
      }
      const blocked = await call(limited.url, "POST", "/auth/login", { json: { username: "fresh", password: PASSWORD } })
      assert.equal(blocked.status, 429)
      assert.ok(Number(blocked.headers.get("retry-after")) > 0)
    } finally {
      await limited.close()
    }
  })

  test("the limits are counted in the store, so every instance on it shares them", async () => {
    const first = await testServer({ REVOCABLE_LOGIN_LIMIT_ACCOUNT: "2" })
    const second = await testServer({ REVOCABLE_LOGIN_LIMIT_ACCOUNT: "2" }, { store: first.store })
    try {
      assert.equal((await call(first.url, "POST", "/auth/login", { json: { username: "shared", password: PASSWORD } })).status, 401)
      assert.equal((await call(second.url, "POST", "/auth/login", { json: { username: "shared", password: PASSWORD } })).status, 401)
      assert.equal((await call(first.url, "POST", "/auth/login", { json: { username: "shared", password: PASSWORD } })).status, 429)
    } finally {
      await second.close()
      await first.close()
    }
  })
})
