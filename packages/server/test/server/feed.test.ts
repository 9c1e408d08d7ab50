// The revocation feed's poll endpoint (issue 15, point 2): a snapshot of the live revocations, then the changes
// since a cursor, with ETag/If-None-Match, to a bearer of the scope revocations:read only.
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import { clientDirectory } from "../../src/server/client-directory.ts"
import { call, PASSWORD, signIn, testServer, type TestServer } from "../helpers/server.ts"

const ADMIN_PASSWORD = "the admin's long passphrase"

let server: TestServer
let admin: string
let reader: string

before(async () => {
  server = await testServer({ REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD, REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  admin = (await signIn(server.url, "admin", ADMIN_PASSWORD, false)).access_token
  reader = await serviceToken(["revocations:read"])
})
after(() => server.close())

async function serviceToken(scopes: string[]): Promise<string> {
  const { clientId, clientSecret } = await clientDirectory(server.store).create("verifier", { scopes })
  const answer = await call(server.url, "POST", "/oauth/token", { form: { grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret } })
  assert.equal(answer.status, 200)
  return answer.body.access_token
}

const poll = (since?: string, headers: Record<string, string> = {}) =>
  call(server.url, "GET", since === undefined ? "/revocations" : `/revocations?since=${encodeURIComponent(since)}`, { token: reader, headers })
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1] as string, "base64url").toString())
const revoke = (json: Record<string, string>) => call(server.url, "POST", "/admin/revocations", { token: admin, json })

describe("who may read the feed", () => {
  test("no token is 401; a token without revocations:read is 403 insufficient_scope with RFC 6750's challenge", async () => {
    assert.equal((await call(server.url, "GET", "/revocations")).status, 401)
    const user = (await signIn(server.url, "ulla", PASSWORD)).access_token
    for (const token of [user, admin, await serviceToken(["orders:read"])]) {
      const answer = await call(server.url, "GET", "/revocations", { token })
      assert.equal(answer.status, 403)
      assert.equal(answer.body.error, "insufficient_scope")
      assert.equal(answer.headers.get("www-authenticate"), 'Bearer error="insufficient_scope", scope="revocations:read"')
    }
  })

  test("a revoked feed token is refused like any other", async () => {
    const token = await serviceToken(["revocations:read"])
    assert.equal((await call(server.url, "GET", "/revocations", { token })).status, 200)
    await revoke({ kind: "token", id: token })
    const answer = await call(server.url, "GET", "/revocations", { token })
    assert.equal(answer.status, 401)
    assert.equal(answer.body.error, "token_revoked")
  })
})

describe("polling", () => {
  test("without a cursor: a snapshot of every live revocation, with its expiry and a subject's cut-off", async () => {
    const victim = await signIn(server.url, "vera", PASSWORD)
    await revoke({ kind: "token", id: victim.access_token })
    await revoke({ kind: "subject", id: claimsOf(victim.access_token).sub })
    const answer = await poll()
    assert.equal(answer.status, 200)
    assert.equal(answer.body.type, "snapshot")
    assert.equal(answer.body.changes, undefined)
    const { jti, sub, exp } = claimsOf(victim.access_token)
    const token = answer.body.revocations.find((entry: { id: string }) => entry.id === jti)
    // Kept while the token could still be accepted: its exp, plus the verifiers' leeway.
    assert.deepEqual(Object.keys(token), ["kind", "id", "exp"])
    assert.ok(token.exp >= exp)
    const subject = answer.body.revocations.find((entry: { kind: string; id: string }) => entry.kind === "subject" && entry.id === sub)
    assert.equal(typeof subject.cutoff, "number")
    assert.ok(subject.exp * 1000 > Date.now())
    assert.equal(answer.headers.get("etag"), `W/"${answer.body.cursor}"`)
    assert.equal(answer.headers.get("cache-control"), "private, no-cache")
  })

  test("with the cursor: only the changes since, in order; revocations and un-revocations, a retired key too", async () => {
    const { cursor } = (await poll()).body
    const quiet = await poll(cursor)
    assert.deepEqual(quiet.body, { type: "changes", cursor, changes: [] })

    const pair = await signIn(server.url, "wanda", PASSWORD)
    const { sid, jti, exp } = claimsOf(pair.access_token)
    await revoke({ kind: "token", id: pair.access_token })
    await revoke({ kind: "session", id: sid })
    assert.equal((await call(server.url, "DELETE", `/admin/revocations/token/${jti}`, { token: admin })).status, 204)
    const changed = await poll(cursor)
    assert.equal(changed.body.type, "changes")
    assert.notEqual(changed.body.cursor, cursor)
    const ours = changed.body.changes.filter((change: { id: string }) => change.id === jti || change.id === sid)
    assert.deepEqual(ours.map((change: { op: string; kind: string }) => `${change.op} ${change.kind}`), ["revoked token", "revoked session", "unrevoked token"])
    assert.deepEqual({ ...ours[0], exp: undefined }, { op: "revoked", kind: "token", id: jti, exp: undefined })
    assert.ok(ours[0].exp >= exp)

    const { kid } = (await call(server.url, "POST", "/admin/keys/rotate", { token: admin })).body
    await call(server.url, "DELETE", `/admin/keys/${kid}`, { token: admin, json: {} })
    const retired = await poll(changed.body.cursor)
    assert.ok(retired.body.changes.some((change: { op: string; kind: string; id: string }) => change.op === "revoked" && change.kind === "key" && change.id === kid))
  })

  test("If-None-Match with the current ETag is 304 until something changes", async () => {
    const first = await poll()
    const etag = first.headers.get("etag") ?? ""
    const same = await poll(first.body.cursor, { "if-none-match": etag })
    assert.equal(same.status, 304)
    assert.equal(same.text, "")
    assert.equal((await poll(undefined, { "if-none-match": `"other", ${etag}` })).status, 304)
    const victim = await signIn(server.url, "xenia", PASSWORD)
    await revoke({ kind: "token", id: victim.access_token })
    const changed = await poll(first.body.cursor, { "if-none-match": etag })
    assert.equal(changed.status, 200)
    assert.notEqual(changed.headers.get("etag"), etag)
    assert.deepEqual(changed.body.changes.map((change: { id: string }) => change.id), [claimsOf(victim.access_token).jti])
  })

  test("a cursor this instance does not follow (another instance's, made up) gets a snapshot, never an error", async () => {
    for (const since of ["someone-else.12", "garbage", `${(await poll()).body.cursor.split(".")[0]}.999999`]) {
      const answer = await poll(since)
      assert.equal(answer.status, 200, since)
      assert.equal(answer.body.type, "snapshot", since)
    }
    const tooLong = await poll("x".repeat(65))
    assert.equal(tooLong.status, 400)
    assert.equal(tooLong.body.error, "invalid_request")
  })

  test("the feed is in the OpenAPI document", async () => {
    const document = (await call(server.url, "GET", "/docs/json")).body
    assert.ok(document.paths["/revocations"]?.get)
  })
})
