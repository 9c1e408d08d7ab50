// Client authentication (RFC 6749 §2.3, §3.2.1, §6; RFC 7009 §2.1): a registered client cannot be impersonated
// without its secret, and its tokens are refreshed and revoked by that client only.
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import { clientDirectory } from "../../src/server/client-directory.ts"
import { call, PASSWORD, testServer, type TestServer } from "../helpers/server.ts"

let server: TestServer
let confidential: { clientId: string; clientSecret: string }
let other: { clientId: string; clientSecret: string }
let publicId: string

before(async () => {
  server = await testServer({ REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  const clients = clientDirectory(server.store)
  confidential = await clients.create("orders-backend")
  other = await clients.create("billing-backend")
  publicId = (await clients.createPublic("mobile-app")).clientId
  await call(server.url, "POST", "/auth/register", { json: { username: "petra", password: PASSWORD } })
})
after(() => server.close())

const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}` })
const token = (form: Record<string, string>, headers: Record<string, string> = {}) => call(server.url, "POST", "/oauth/token", { form, headers })
const login = { grant_type: "password", username: "petra", password: PASSWORD }
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1] as string, "base64url").toString())

function assertInvalidClient(answer: Awaited<ReturnType<typeof call>>, what: string) {
  assert.equal(answer.status, 401, what)
  assert.equal(answer.body.error, "invalid_client", what)
  assert.match(answer.headers.get("www-authenticate") ?? "", /^Basic realm="revocable"/, what)
}

describe("the token endpoint authenticates clients", () => {
  test("a confidential client's id without its secret, or with a wrong one, is 401 invalid_client and issues nothing", async () => {
    assertInvalidClient(await token({ ...login, client_id: confidential.clientId }), "id alone")
    assertInvalidClient(await token({ ...login, client_id: confidential.clientId, client_secret: "guess" }), "wrong secret in the form")
    assertInvalidClient(await token(login, basic(confidential.clientId, "guess")), "wrong secret in Basic")
    assertInvalidClient(await token({ ...login, client_id: confidential.clientId }, basic(other.clientId, other.clientSecret)), "another client's credentials")
  })

  test("an unknown client_id is 401 invalid_client; a public client's id is not a credential to present a secret with", async () => {
    assertInvalidClient(await token({ ...login, client_id: "made-up-app" }), "unknown")
    assertInvalidClient(await token({ ...login, client_id: publicId, client_secret: "anything" }), "public with a secret")
  })

  test("client_id is the authenticated client, the registered public client, or the first party when none is named", async () => {
    const viaBasic = await token(login, basic(confidential.clientId, confidential.clientSecret))
    assert.equal(claimsOf(viaBasic.body.access_token).client_id, confidential.clientId)
    const viaPost = await token({ ...login, client_id: confidential.clientId, client_secret: confidential.clientSecret })
    assert.equal(claimsOf(viaPost.body.access_token).client_id, confidential.clientId)
    const viaPublic = await token({ ...login, client_id: publicId })
    assert.equal(claimsOf(viaPublic.body.access_token).client_id, publicId)
    const anonymous = await token(login)
    assert.equal(claimsOf(anonymous.body.access_token).client_id, "revocable")
  })

  test("introspection takes only a confidential client's credentials: its id alone, or a public client, is 401", async () => {
    const access = (await token(login)).body.access_token
    assertInvalidClient(await call(server.url, "POST", "/oauth/introspect", { form: { token: access, client_id: confidential.clientId } }), "id alone")
    assertInvalidClient(await call(server.url, "POST", "/oauth/introspect", { form: { token: access, client_id: publicId } }), "public")
    const answer = await call(server.url, "POST", "/oauth/introspect", { form: { token: access }, headers: basic(confidential.clientId, confidential.clientSecret) })
    assert.equal(answer.body.active, true)
  })
})

describe("a confidential client's refresh token is refreshed by that client only (RFC 6749 §6)", () => {
  test("without its credentials: 401 invalid_client; by another client: invalid_grant; at /auth/refresh: 403; the token stays good for its client", async () => {
    const pair = (await token(login, basic(confidential.clientId, confidential.clientSecret))).body
    const refresh = { grant_type: "refresh_token", refresh_token: pair.refresh_token }
    assertInvalidClient(await token(refresh), "anonymous")
    const named = await token({ ...refresh, client_id: publicId })
    assert.equal(named.status, 400)
    assert.equal(named.body.error, "invalid_grant")
    const byOther = await token(refresh, basic(other.clientId, other.clientSecret))
    assert.equal(byOther.status, 400)
    assert.equal(byOther.body.error, "invalid_grant")
    const first = await call(server.url, "POST", "/auth/refresh", { json: { refresh_token: pair.refresh_token } })
    assert.equal(first.status, 403)
    assert.equal(first.body.error, "forbidden")

    const own = await token(refresh, basic(confidential.clientId, confidential.clientSecret))
    assert.equal(own.status, 200, "none of the refused attempts spent the token")
    assert.equal(claimsOf(own.body.access_token).client_id, confidential.clientId)
  })

  test("a public client's and the first party's refresh tokens refresh without credentials", async () => {
    const mobile = (await token({ ...login, client_id: publicId })).body
    const again = await token({ grant_type: "refresh_token", refresh_token: mobile.refresh_token, client_id: publicId })
    assert.equal(again.status, 200)
    assert.equal(claimsOf(again.body.access_token).client_id, publicId)
    const firstParty = (await token(login)).body
    assert.equal((await token({ grant_type: "refresh_token", refresh_token: firstParty.refresh_token })).status, 200)
  })
})

describe("revocation checks the token's client (RFC 7009 §2.1)", () => {
  test("a confidential client's token: 401 without its credentials, invalid_grant for another client, 200 for its own", async () => {
    const pair = (await token(login, basic(confidential.clientId, confidential.clientSecret))).body
    for (const revoked of [pair.access_token, pair.refresh_token]) {
      assertInvalidClient(await call(server.url, "POST", "/oauth/revoke", { form: { token: revoked } }), "anonymous")
      const byOther = await call(server.url, "POST", "/oauth/revoke", { form: { token: revoked }, headers: basic(other.clientId, other.clientSecret) })
      assert.equal(byOther.status, 400)
      assert.equal(byOther.body.error, "invalid_grant")
    }
    assert.equal((await call(server.url, "GET", "/me", { token: pair.access_token })).status, 200, "nothing was revoked")
    const own = await call(server.url, "POST", "/oauth/revoke", { form: { token: pair.refresh_token }, headers: basic(confidential.clientId, confidential.clientSecret) })
    assert.equal(own.status, 200)
    assert.equal((await call(server.url, "GET", "/me", { token: pair.access_token })).body.error, "token_revoked")
    // Named as a client, in a form no username can take: no account can pass for it.
    const { items } = await server.store.listRevocations({ kind: "session", limit: 100, now: Date.now() })
    assert.equal(items.find((entry) => entry.id === claimsOf(pair.access_token).sid)?.actor, `client:${confidential.clientId}`)
  })

  test("first-party and public tokens are revoked by whoever holds them; a removed client's tokens by anyone", async () => {
    const firstParty = (await token(login)).body
    assert.equal((await call(server.url, "POST", "/oauth/revoke", { form: { token: firstParty.access_token } })).status, 200)
    const mobile = (await token({ ...login, client_id: publicId })).body
    assert.equal((await call(server.url, "POST", "/oauth/revoke", { form: { token: mobile.refresh_token, client_id: publicId } })).status, 200)
    assert.equal((await call(server.url, "GET", "/me", { token: mobile.access_token })).body.error, "token_revoked")

    const clients = clientDirectory(server.store)
    const doomed = await clients.create("retired-backend")
    const pair = (await token(login, basic(doomed.clientId, doomed.clientSecret))).body
    await clients.delete(doomed.clientId)
    assert.equal((await call(server.url, "POST", "/oauth/revoke", { form: { token: pair.access_token } })).status, 200)
    assert.equal((await call(server.url, "GET", "/me", { token: pair.access_token })).body.error, "token_revoked")
    const refreshed = await token({ grant_type: "refresh_token", refresh_token: pair.refresh_token })
    assert.equal(refreshed.body.error, "invalid_grant", "a removed client's refresh token is dead")
  })
})
