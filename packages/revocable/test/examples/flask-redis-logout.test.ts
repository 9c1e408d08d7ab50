// examples/flask-redis-logout.ts, run as a process and driven over HTTP.
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { after, before, test } from "node:test"
import { createClient } from "redis"
import { bearer, call, type Reply } from "../adapters/client.ts"
import { runExample, type RunningExample } from "./run.ts"

let app: RunningExample
const prefix = `example-${randomBytes(6).toString("hex")}`

before(async () => {
  app = await runExample("flask-redis-logout", { REVOCABLE_PREFIX: prefix })
})

after(async () => {
  assert.equal(await app.stop(), 0, "the example shuts down cleanly on SIGTERM")
  const redis = await createClient({ url: "redis://127.0.0.1:6379" }).connect()
  for await (const keys of redis.scanIterator({ MATCH: `{${prefix}}*`, COUNT: 1000 })) if (keys.length > 0) await redis.del(keys)
  redis.destroy()
})

async function login(): Promise<{ access: string; refresh: string }> {
  const reply = await call(app.base, "POST", "/login")
  assert.equal(reply.status, 200, reply.text)
  return { access: reply.json.access_token, refresh: reply.json.refresh_token }
}

function refused(reply: Reply, error: string): void {
  assert.equal(reply.status, 401, reply.text)
  assert.equal(reply.json.error, error)
}

const protectedWith = (token: string) => call(app.base, "GET", "/protected", { headers: [bearer(token)] })
const refreshWith = (token: string) => call(app.base, "POST", "/refresh", { headers: [bearer(token)] })
const logoutWith = (token: string, path = "/logout") => call(app.base, "DELETE", path, { headers: [bearer(token)] })

test("DELETE /logout with an access token revokes that token only", async () => {
  const { access, refresh } = await login()
  assert.deepEqual((await protectedWith(access)).json, { hello: "world" })
  const logout = await logoutWith(access)
  assert.equal(logout.status, 200)
  assert.equal(logout.json.msg, "Access token successfully revoked")
  refused(await protectedWith(access), "token_revoked")
  const renewed = await refreshWith(refresh)
  assert.equal(renewed.status, 200, "the refresh token was not revoked")
  assert.equal((await protectedWith(renewed.json.access_token)).status, 200)
})

test("DELETE /logout with a refresh token revokes it, and the access tokens of its session", async () => {
  const { access, refresh } = await login()
  const logout = await logoutWith(refresh)
  assert.equal(logout.status, 200)
  assert.equal(logout.json.msg, "Refresh token successfully revoked")
  refused(await refreshWith(refresh), "token_revoked")
  refused(await protectedWith(access), "token_revoked")
})

test("DELETE /logout/both revokes the access and the refresh token at once", async () => {
  const { access, refresh } = await login()
  const other = await login()
  const logout = await logoutWith(access, "/logout/both")
  assert.equal(logout.status, 200)
  refused(await protectedWith(access), "token_revoked")
  refused(await refreshWith(refresh), "token_revoked")
  assert.equal((await protectedWith(other.access)).status, 200, "another login of the same user is untouched")
})

test("DELETE /logout/both refuses a refresh token: it needs the access token", async () => {
  const { refresh } = await login()
  refused(await logoutWith(refresh, "/logout/both"), "wrong_token_type")
  assert.equal((await refreshWith(refresh)).status, 200)
})

test("a revoked token cannot log out again, and no token is 401 token_missing", async () => {
  const { access } = await login()
  assert.equal((await logoutWith(access)).status, 200)
  refused(await logoutWith(access), "token_revoked")
  refused(await call(app.base, "DELETE", "/logout"), "token_missing")
})

test("a spent refresh token replayed revokes the whole session", async () => {
  const { refresh } = await login()
  const renewed = await refreshWith(refresh)
  assert.equal(renewed.status, 200)
  refused(await refreshWith(refresh), "refresh_token_reused")
  refused(await protectedWith(renewed.json.access_token), "token_revoked")
})
