// examples/refresh-tutorial.ts, run as a process and driven over HTTP.
import assert from "node:assert/strict"
import { after, before, test } from "node:test"
import { bearer, call, type Reply } from "../adapters/client.ts"
import { runExample, type RunningExample } from "./run.ts"

let app: RunningExample

before(async () => {
  app = await runExample("refresh-tutorial")
})

after(async () => {
  assert.equal(await app.stop(), 0, "the example shuts down cleanly on SIGTERM")
})

interface Tokens {
  access_token: string
  refresh_token: string
  token_type: string
  expires_in: number
}

function tokens(reply: Reply): Tokens {
  assert.equal(reply.status, 200, reply.text)
  assert.equal(reply.headers["cache-control"], "no-store")
  assert.equal(reply.json.token_type, "Bearer")
  assert.equal(reply.json.expires_in, 900)
  return reply.json
}

function grantError(reply: Reply, error: string): void {
  assert.equal(reply.status, 400, reply.text)
  assert.equal(reply.headers["cache-control"], "no-store")
  assert.equal(reply.json.error, error)
}

const login = async () => tokens(await call(app.base, "POST", "/auth/login", { json: { username: "ada", password: "lovelace" } }))
const refresh = (token: string) => call(app.base, "POST", "/auth/refresh", { form: { grant_type: "refresh_token", refresh_token: token } })
const me = (token: string) => call(app.base, "GET", "/me", { headers: [bearer(token)] })

test("login, a protected call, a refresh with grant_type=refresh_token, and the new pair works", async () => {
  const first = await login()
  const who = await me(first.access_token)
  assert.equal(who.status, 200)
  assert.equal(who.json.sub, "ada")
  const second = tokens(await refresh(first.refresh_token))
  assert.notEqual(second.refresh_token, first.refresh_token)
  const again = await me(second.access_token)
  assert.equal(again.json.session_id, who.json.session_id, "a refresh continues the same session")
})

test("the refresh endpoint also takes a JSON body", async () => {
  const first = await login()
  tokens(await call(app.base, "POST", "/auth/refresh", { json: { grant_type: "refresh_token", refresh_token: first.refresh_token } }))
})

test("logout kills the access token and the refresh token of the session", async () => {
  const session = await login()
  const logout = await call(app.base, "POST", "/auth/logout", { headers: [bearer(session.access_token)] })
  assert.equal(logout.status, 204)
  const refused = await me(session.access_token)
  assert.equal(refused.status, 401)
  assert.equal(refused.json.error, "token_revoked")
  grantError(await refresh(session.refresh_token), "invalid_grant")
})

test("a replayed refresh token is an invalid grant and ends the session it belonged to", async () => {
  const first = await login()
  const second = tokens(await refresh(first.refresh_token))
  grantError(await refresh(first.refresh_token), "invalid_grant")
  assert.equal((await me(second.access_token)).json.error, "token_revoked")
  grantError(await refresh(second.refresh_token), "invalid_grant")
})

test("the token endpoint refuses other grants, a missing grant type or token, and an access token", async () => {
  const session = await login()
  grantError(await call(app.base, "POST", "/auth/refresh", { form: { grant_type: "password", username: "ada", password: "lovelace" } }), "unsupported_grant_type")
  grantError(await call(app.base, "POST", "/auth/refresh", { form: { refresh_token: session.refresh_token } }), "invalid_request")
  grantError(await call(app.base, "POST", "/auth/refresh", { form: { grant_type: "refresh_token" } }), "invalid_request")
  grantError(await refresh(session.access_token), "invalid_grant")
  grantError(await refresh("garbage"), "invalid_grant")
})

test("a wrong password is 401 invalid_credentials; logout without a token is 401 token_missing", async () => {
  const wrong = await call(app.base, "POST", "/auth/login", { form: { username: "ada", password: "babbage" } })
  assert.equal(wrong.status, 401)
  assert.equal(wrong.json.error, "invalid_credentials")
  const anonymous = await call(app.base, "POST", "/auth/logout")
  assert.equal(anonymous.status, 401)
  assert.equal(anonymous.json.error, "token_missing")
})
