// POST /admin/revocations for one token: the owner and expiry recorded, so that the revocation is listed under
// the user it belongs to (issue 17, point 3).
import assert from "node:assert/strict"
import { after, before, test } from "node:test"
import { call, signIn, testServer, type TestServer } from "../helpers/server.ts"

const ADMIN_PASSWORD = "the admin's long passphrase"

let server: TestServer
let admin: string

before(async () => {
  server = await testServer({ REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD, REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  admin = (await signIn(server.url, "admin", ADMIN_PASSWORD, false)).access_token
})
after(() => server.close())

const claimsOf = (token: string): { sub: string; jti: string; exp: number } => JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString())
const revoke = (json: unknown) => call(server.url, "POST", "/admin/revocations", { token: admin, json })
const me = (token: string) => call(server.url, "GET", "/me", { token })

async function listedFor(sub: string): Promise<string[]> {
  const page = await call(server.url, "GET", `/admin/revocations?subject=${sub}&kind=token`, { token: admin })
  assert.equal(page.status, 200)
  return (page.body.items as { id: string }[]).map((item) => item.id)
}

test("a bare jti with subject (a sub or a username) is recorded under that user and listed with their revocations", async () => {
  const first = await signIn(server.url, "owner-one")
  const { sub, jti } = claimsOf(first.access_token)
  const bySub = await revoke({ kind: "token", id: jti, subject: sub, reason: "seen in a log" })
  assert.equal(bySub.status, 201, bySub.text)
  assert.equal(bySub.body.subject, sub)
  assert.equal((await me(first.access_token)).body.error, "token_revoked")

  const second = await signIn(server.url, "owner-one", undefined, false)
  const byName = await revoke({ kind: "token", id: claimsOf(second.access_token).jti, subject: "owner-one" })
  assert.equal(byName.status, 201, byName.text)
  assert.equal(byName.body.subject, sub)
  assert.equal((await me(second.access_token)).body.error, "token_revoked")

  assert.deepEqual((await listedFor(sub)).sort(), [jti, claimsOf(second.access_token).jti].sort())
})

test("a bare jti without subject, or with one no user has, is refused with 400 and revokes nothing", async () => {
  const pair = await signIn(server.url, "owner-two")
  const { jti } = claimsOf(pair.access_token)
  for (const [body, message] of [
    [{ kind: "token", id: jti }, /give subject/],
    [{ kind: "token", id: jti, subject: "nobody-here" }, /No user has that subject or username/],
  ] as const) {
    const answer = await revoke(body)
    assert.equal(answer.status, 400, JSON.stringify(body))
    assert.equal(answer.body.error, "invalid_request")
    assert.match(answer.body.error_description, message)
  }
  assert.equal((await me(pair.access_token)).status, 200)
  assert.deepEqual(await listedFor(claimsOf(pair.access_token).sub), [])
})

test("the token itself records its own owner and its real expiry; subject beside anything but a bare jti is refused", async () => {
  const pair = await signIn(server.url, "owner-three")
  const claims = claimsOf(pair.access_token)
  for (const body of [
    { kind: "token", id: pair.access_token, subject: "admin" },
    { kind: "session", id: pair.session_id, subject: claims.sub },
    { kind: "subject", id: claims.sub, subject: claims.sub },
  ]) {
    const answer = await revoke(body)
    assert.equal(answer.status, 400, body.kind)
    assert.match(answer.body.error_description, /subject goes only with a bare jti/)
  }
  assert.equal((await me(pair.access_token)).status, 200)

  const created = await revoke({ kind: "token", id: pair.access_token })
  assert.equal(created.status, 201, created.text)
  assert.equal(created.body.id, claims.jti)
  assert.equal(created.body.subject, claims.sub)
  // exp plus twice the leeway (30 s by default), the time past which no clock skew lets the token through.
  assert.equal(created.body.expires_at, new Date(claims.exp * 1000 + 60_000).toISOString())
})
