// Login CSRF and cross-origin cookie use, with no REVOCABLE_COOKIE_ORIGINS set: a cookie-mode sign-in and every
// cookie-authenticated unsafe request must come from the server's own origin (Origin, else Sec-Fetch-Site).
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import { call, PASSWORD, testServer, type TestServer } from "../helpers/server.ts"

let server: TestServer

before(async () => {
  server = await testServer({ REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  await call(server.url, "POST", "/auth/register", { json: { username: "carol", password: PASSWORD } })
})
after(() => server.close())

const FOREIGN: Record<string, string>[] = [
  { origin: "https://evil.example" },
  { origin: "null" },
  { "sec-fetch-site": "cross-site" },
  { "sec-fetch-site": "same-site" },
]

/** A cookie-mode sign-in: the cookies as one Cookie header, and the CSRF token. */
async function cookieLogin(headers: Record<string, string> = {}) {
  const answer = await call(server.url, "POST", "/auth/login", { json: { username: "carol", password: PASSWORD, cookie: true }, headers })
  const cookie = answer.headers.getSetCookie().map((line) => line.split(";")[0]).join("; ")
  return { answer, cookie, csrf: answer.body?.csrf_token as string }
}

describe("cookie-mode sign-in", () => {
  test("from another origin or site: 403 csrf_failed and no cookie is set", async () => {
    for (const headers of FOREIGN) {
      const { answer } = await cookieLogin(headers)
      assert.equal(answer.status, 403, JSON.stringify(headers))
      assert.equal(answer.body.error, "csrf_failed", JSON.stringify(headers))
      assert.deepEqual(answer.headers.getSetCookie(), [], JSON.stringify(headers))
    }
  })

  test("from the server's own origin (as addressed, or as the issuer names it), same-origin fetch metadata, or no browser at all: signed in", async () => {
    const own: Record<string, string>[] = [{ origin: server.url }, { origin: "http://issuer.test" }, { "sec-fetch-site": "same-origin" }, {}]
    for (const headers of own) {
      const { answer } = await cookieLogin(headers)
      assert.equal(answer.status, 200, JSON.stringify(headers))
      assert.equal(typeof answer.body.csrf_token, "string")
    }
  })
})

describe("cookie-authenticated unsafe requests", () => {
  test("from another origin: 403 csrf_failed even with the right CSRF header, and nothing changes", async () => {
    const { cookie, csrf } = await cookieLogin()
    for (const headers of FOREIGN) {
      for (const path of ["/auth/logout", "/auth/logout-all", "/auth/refresh"]) {
        const answer = await call(server.url, "POST", path, { headers: { cookie, "x-csrf-token": csrf, ...headers } })
        assert.equal(answer.status, 403, `${path} ${JSON.stringify(headers)}`)
        assert.equal(answer.body.error, "csrf_failed", `${path} ${JSON.stringify(headers)}`)
      }
    }
    assert.equal((await call(server.url, "GET", "/me", { headers: { cookie, origin: "https://evil.example" } })).status, 200, "safe requests pass; the session lives")
    const own = await call(server.url, "POST", "/auth/logout", { headers: { cookie, "x-csrf-token": csrf, origin: server.url } })
    assert.equal(own.status, 204)
  })

  test("a request authenticated by its Authorization header is not cookie-authenticated: any origin may send it", async () => {
    const { cookie } = await cookieLogin()
    const bearer = await call(server.url, "POST", "/auth/login", { json: { username: "carol", password: PASSWORD } })
    const answer = await call(server.url, "POST", "/auth/logout", { token: bearer.body.access_token, headers: { cookie, origin: "https://app.example" } })
    assert.equal(answer.status, 204)
  })

  test("REVOCABLE_COOKIE_ORIGINS adds origins; others are still refused", async () => {
    const configured = await testServer({ REVOCABLE_COOKIE_ORIGINS: "https://app.example" })
    try {
      await call(configured.url, "POST", "/auth/register", { json: { username: "dave", password: PASSWORD } })
      const login = (origin: string) => call(configured.url, "POST", "/auth/login", { json: { username: "dave", password: PASSWORD, cookie: true }, headers: { origin } })
      assert.equal((await login("https://app.example")).status, 200)
      assert.equal((await login(configured.url)).status, 200)
      assert.equal((await login("https://evil.example")).status, 403)
    } finally {
      await configured.close()
    }
  })
})
