// examples/authx-blocklist.ts, run as a process and driven over HTTP with the curl flow of the original.
import assert from "node:assert/strict"
import { after, before, test } from "node:test"
import { bearer, call } from "../adapters/client.ts"
import { runExample, type RunningExample } from "./run.ts"

let app: RunningExample

before(async () => {
  app = await runExample("authx-blocklist")
})

after(async () => {
  assert.equal(await app.stop(), 0, "the example shuts down cleanly on SIGTERM")
})

async function login(username: string, password: string): Promise<string> {
  const reply = await call(app.base, "POST", "/login", { json: { username, password } })
  assert.equal(reply.status, 200, reply.text)
  assert.equal(reply.json.token_type, "bearer")
  return reply.json.access_token
}

test("the welcome route lists the endpoints", async () => {
  const reply = await call(app.base, "GET", "/")
  assert.equal(reply.status, 200)
  assert.deepEqual(Object.keys(reply.json.endpoints).sort(), ["blocklist", "login", "logout", "protected"])
})

test("a wrong password and an unknown user get the same 401 invalid_credentials", async () => {
  const wrong = await call(app.base, "POST", "/login", { json: { username: "user1", password: "nope" } })
  const unknown = await call(app.base, "POST", "/login", { json: { username: "mallory", password: "password1" } })
  for (const reply of [wrong, unknown]) {
    assert.equal(reply.status, 401)
    assert.equal(reply.json.error, "invalid_credentials")
    assert.equal(reply.headers["www-authenticate"], "Bearer")
  }
  assert.deepEqual(wrong.json, unknown.json)
})

test("after logout the same token is refused by /protected with token_revoked, and listed in /blocklist", async () => {
  const token = await login("user1", "password1")
  const before = await call(app.base, "GET", "/protected", { headers: [bearer(token)] })
  assert.equal(before.status, 200)
  assert.equal(before.json.username, "user1")
  assert.equal(before.json.email, "user1@example.com")
  const jti = before.json.token_jti
  assert.equal((await call(app.base, "GET", "/blocklist")).json.blocklist.includes(jti), false)

  const logout = await call(app.base, "POST", "/logout", { headers: [bearer(token)] })
  assert.equal(logout.status, 200)
  assert.equal(logout.json.message, "Successfully logged out")

  const afterLogout = await call(app.base, "GET", "/protected", { headers: [bearer(token)] })
  assert.equal(afterLogout.status, 401)
  assert.equal(afterLogout.json.error, "token_revoked")
  assert.match(String(afterLogout.headers["www-authenticate"]), /^Bearer error="invalid_token"/)
  assert.equal((await call(app.base, "GET", "/blocklist")).json.blocklist.includes(jti), true)

  const again = await call(app.base, "POST", "/logout", { headers: [bearer(token)] })
  assert.equal(again.status, 401)
  assert.equal(again.json.error, "token_revoked")
})

test("logging one token out leaves the user's other tokens valid", async () => {
  const first = await login("user2", "password2")
  const second = await login("user2", "password2")
  assert.equal((await call(app.base, "POST", "/logout", { headers: [bearer(first)] })).status, 200)
  assert.equal((await call(app.base, "GET", "/protected", { headers: [bearer(second)] })).status, 200)
})

test("/protected without a token is 401 token_missing", async () => {
  const reply = await call(app.base, "GET", "/protected")
  assert.equal(reply.status, 401)
  assert.equal(reply.json.error, "token_missing")
})
