import assert from "node:assert/strict"
import { after, before, describe, mock, test } from "node:test"
import { clientDirectory } from "../../src/server/client-directory.ts"
import { call, PASSWORD, signIn, testServer, type TestServer } from "../helpers/server.ts"

let server: TestServer
let url: string
let client: { clientId: string; clientSecret: string }
let basic: string

before(async () => {
  server = await testServer({ REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  url = server.url
  client = await clientDirectory(server.store).create("resource-server")
  basic = `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString("base64")}`
  await call(url, "POST", "/auth/register", { json: { username: "olivia", password: PASSWORD } })
})
after(() => server.close())

const grant = (form: Record<string, string>, headers: Record<string, string> = {}) => call(url, "POST", "/oauth/token", { form, headers })
const passwordGrant = () => grant({ grant_type: "password", username: "olivia", password: PASSWORD })
const introspect = (token: string, headers: Record<string, string> = { authorization: basic }) => call(url, "POST", "/oauth/introspect", { form: { token }, headers })

describe("POST /oauth/token", () => {
  test("the password grant answers a Bearer pair with Cache-Control: no-store and Pragma: no-cache", async () => {
    const answer = await passwordGrant()
    assert.equal(answer.status, 200)
    assert.equal(answer.headers.get("cache-control"), "no-store")
    assert.equal(answer.headers.get("pragma"), "no-cache")
    assert.equal(answer.body.token_type, "Bearer")
    assert.equal(answer.body.expires_in, 900)
    assert.equal(typeof answer.body.access_token, "string")
    assert.equal(typeof answer.body.refresh_token, "string")
  })

  test("the refresh_token grant rotates; replaying the spent token is invalid_grant and kills the session", async () => {
    const first = (await passwordGrant()).body
    const second = await grant({ grant_type: "refresh_token", refresh_token: first.refresh_token })
    assert.equal(second.status, 200)
    assert.equal(second.headers.get("cache-control"), "no-store")
    const replay = await grant({ grant_type: "refresh_token", refresh_token: first.refresh_token })
    assert.equal(replay.status, 400)
    assert.equal(replay.body.error, "invalid_grant")
    assert.equal(replay.headers.get("cache-control"), "no-store")
    assert.equal((await call(url, "GET", "/me", { token: second.body.access_token })).body.error, "token_revoked")
  })

  test("RFC 6749 §5.2 errors: invalid_request, unsupported_grant_type, invalid_grant", async () => {
    const cases: [Record<string, string>, number, string][] = [
      [{}, 400, "invalid_request"],
      [{ grant_type: "password", username: "olivia" }, 400, "invalid_request"],
      [{ grant_type: "refresh_token" }, 400, "invalid_request"],
      [{ grant_type: "urn:ietf:params:oauth:grant-type:device_code" }, 400, "unsupported_grant_type"],
      [{ grant_type: "authorization_code", code: "x" }, 400, "unsupported_grant_type"],
      [{ grant_type: "password", username: "olivia", password: "wrong password" }, 400, "invalid_grant"],
      [{ grant_type: "refresh_token", refresh_token: "garbage" }, 400, "invalid_grant"],
    ]
    for (const [form, status, error] of cases) {
      const answer = await grant(form)
      assert.equal(answer.status, status, JSON.stringify(form))
      assert.equal(answer.body.error, error, JSON.stringify(form))
      assert.equal(typeof answer.body.error_description, "string")
    }
  })

  test("an unknown user and a wrong password get the same answer", async () => {
    const wrong = await grant({ grant_type: "password", username: "olivia", password: "wrong password" })
    const unknown = await grant({ grant_type: "password", username: "nobody", password: "wrong password" })
    assert.equal(unknown.status, wrong.status)
    assert.equal(unknown.text, wrong.text)
  })

  test("only POST with a form body, on every token endpoint: other bodies 400 or 415, other methods 405 with Allow: POST", async () => {
    const pair = (await passwordGrant()).body
    const fields = { grant_type: "password", username: "olivia", password: PASSWORD, token: pair.access_token, client_id: client.clientId, client_secret: client.clientSecret }
    const multipart = Object.entries(fields).map(([name, value]) => `--b\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`).join("") + "--b--\r\n"
    const bodies: { body?: string; type?: string; status: number }[] = [
      { body: JSON.stringify(fields), type: "application/json", status: 400 },
      { body: new URLSearchParams(fields).toString(), type: "text/plain", status: 400 },
      { body: new URLSearchParams(fields).toString(), type: "application/x-www-form-urlencoded-but-not", status: 415 },
      { body: multipart, type: "multipart/form-data; boundary=b", status: 415 },
      { body: new URLSearchParams(fields).toString(), type: "", status: 415 },
      { status: 400 },
    ]
    for (const path of ["/oauth/token", "/oauth/revoke", "/oauth/introspect"]) {
      for (const { body, type, status } of bodies) {
        const answer = await call(url, "POST", path, { ...(body === undefined ? {} : { body }), headers: type === undefined ? {} : { "content-type": type } })
        assert.equal(answer.status, status, `${path} ${type}`)
        assert.equal(answer.body.error, "invalid_request", `${path} ${type}`)
      }
      for (const method of ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
        const answer = await call(url, method, `${path}?${new URLSearchParams(fields)}`, method === "GET" || method === "HEAD" ? {} : { form: fields })
        assert.equal(answer.status, 405, `${method} ${path}`)
        assert.equal(answer.headers.get("allow"), "POST", `${method} ${path}`)
      }
    }
    assert.equal((await call(url, "GET", "/me", { token: pair.access_token })).status, 200, "nothing above revoked the token")
  })

  test("every answer of the token endpoints carries Cache-Control: no-store, errors included", async () => {
    const pair = (await passwordGrant()).body
    const formType = { "content-type": "application/x-www-form-urlencoded" }
    const answers: [string, () => ReturnType<typeof call>][] = [
      ["token: a pair", () => passwordGrant()],
      ["token: invalid_grant", () => grant({ grant_type: "password", username: "olivia", password: "wrong password" })],
      ["token: unsupported_grant_type", () => grant({ grant_type: "urn:ietf:params:oauth:grant-type:device_code" })],
      ["token: invalid_client", () => grant({ grant_type: "password" }, { authorization: `Basic ${Buffer.from("x:y").toString("base64")}` })],
      ["token: a JSON body", () => call(url, "POST", "/oauth/token", { json: { grant_type: "password" } })],
      ["token: a repeated parameter", () => call(url, "POST", "/oauth/token", { body: "grant_type=password&grant_type=password", headers: formType })],
      ["token: a body too large", () => grant({ grant_type: "password", username: "olivia", password: "x".repeat(40_000) })],
      ["token: an unsupported content type", () => call(url, "POST", "/oauth/token", { body: "--b--\r\n", headers: { "content-type": "multipart/form-data; boundary=b" } })],
      ["token: GET", () => call(url, "GET", "/oauth/token")],
      ["revoke: 200", () => call(url, "POST", "/oauth/revoke", { form: { token: "garbage" } })],
      ["revoke: no token", () => call(url, "POST", "/oauth/revoke", { form: {} })],
      ["revoke: a repeated parameter", () => call(url, "POST", "/oauth/revoke", { body: "token=a&token=b", headers: formType })],
      ["revoke: GET", () => call(url, "GET", "/oauth/revoke")],
      ["introspect: active", () => introspect(pair.access_token)],
      ["introspect: inactive", () => introspect("garbage")],
      ["introspect: no client", () => introspect(pair.access_token, {})],
      ["introspect: a body too large", () => introspect("x".repeat(40_000))],
      ["introspect: GET", () => call(url, "GET", "/oauth/introspect")],
    ]
    for (const [name, answer] of answers) assert.equal((await answer()).headers.get("cache-control"), "no-store", name)
  })

  test("a repeated parameter is 400 invalid_request (RFC 6749 §3.2)", async () => {
    const answer = await call(url, "POST", "/oauth/token", {
      body: "grant_type=password&username=olivia&password=x&password=y",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    })
    assert.equal(answer.status, 400)
    assert.equal(answer.body.error, "invalid_request")
  })

  test("bad client credentials are 401 invalid_client; a confidential client's own id lands in client_id", async () => {
    const bad = await grant({ grant_type: "password", username: "olivia", password: PASSWORD }, { authorization: "Basic " + Buffer.from("x:y").toString("base64") })
    assert.equal(bad.status, 401)
    assert.equal(bad.body.error, "invalid_client")
    assert.match(bad.headers.get("www-authenticate") ?? "", /^Basic /)
    const good = await grant({ grant_type: "password", username: "olivia", password: PASSWORD }, { authorization: basic })
    const claims = JSON.parse(Buffer.from(good.body.access_token.split(".")[1], "base64url").toString())
    assert.equal(claims.client_id, client.clientId)
    const { clientId: mobile } = await clientDirectory(server.store).createPublic("mobile-app")
    const named = await grant({ grant_type: "password", username: "olivia", password: PASSWORD, client_id: mobile })
    assert.equal(JSON.parse(Buffer.from(named.body.access_token.split(".")[1], "base64url").toString()).client_id, mobile)
  })
})

describe("POST /oauth/revoke", () => {
  test("200 for unknown, garbage and foreign tokens (RFC 7009 §2.2), with no-store", async () => {
    for (const token of ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "x".repeat(10_000)]) {
      const answer = await call(url, "POST", "/oauth/revoke", { form: { token } })
      assert.equal(answer.status, 200)
      assert.equal(answer.text, "")
      assert.equal(answer.headers.get("cache-control"), "no-store")
    }
  })

  test("without token: 400 invalid_request", async () => {
    for (const form of [{}, { token: "" }, { token_type_hint: "access_token" }] as Record<string, string>[]) {
      const answer = await call(url, "POST", "/oauth/revoke", { form })
      assert.equal(answer.status, 400)
      assert.equal(answer.body.error, "invalid_request")
    }
  })

  test("revoking an access token refuses it, revoking twice is fine", async () => {
    const pair = (await passwordGrant()).body
    assert.equal((await call(url, "POST", "/oauth/revoke", { form: { token: pair.access_token, token_type_hint: "access_token" } })).status, 200)
    assert.equal((await call(url, "POST", "/oauth/revoke", { form: { token: pair.access_token } })).status, 200)
    assert.equal((await call(url, "GET", "/me", { token: pair.access_token })).body.error, "token_revoked")
  })

  test("revoking a refresh token revokes its whole session, access tokens included", async () => {
    const pair = (await passwordGrant()).body
    assert.equal((await call(url, "POST", "/oauth/revoke", { form: { token: pair.refresh_token, token_type_hint: "refresh_token" } })).status, 200)
    assert.equal((await call(url, "GET", "/me", { token: pair.access_token })).body.error, "token_revoked")
    assert.equal((await grant({ grant_type: "refresh_token", refresh_token: pair.refresh_token })).body.error, "invalid_grant")
  })
})

describe("POST /oauth/introspect", () => {
  test("without client authentication: 401 invalid_client with a Basic challenge", async () => {
    const pair = (await passwordGrant()).body
    const answer = await introspect(pair.access_token, {})
    assert.equal(answer.status, 401)
    assert.equal(answer.body.error, "invalid_client")
    assert.match(answer.headers.get("www-authenticate") ?? "", /^Basic realm="revocable"/)
    assert.equal((await introspect(pair.access_token, { authorization: `Bearer ${pair.access_token}` })).status, 401)
  })

  test("a wrong secret or an unknown client: 401; two methods at once: 400", async () => {
    const pair = (await passwordGrant()).body
    const wrong = `Basic ${Buffer.from(`${client.clientId}:nope`).toString("base64")}`
    assert.equal((await introspect(pair.access_token, { authorization: wrong })).status, 401)
    const unknown = `Basic ${Buffer.from(`unknown:${client.clientSecret}`).toString("base64")}`
    assert.equal((await introspect(pair.access_token, { authorization: unknown })).status, 401)
    const both = await call(url, "POST", "/oauth/introspect", {
      form: { token: pair.access_token, client_id: client.clientId, client_secret: client.clientSecret },
      headers: { authorization: basic },
    })
    assert.equal(both.status, 400)
    assert.equal(both.body.error, "invalid_request")
  })

  test("an active access token: its claims, with client_secret_basic and with client_secret_post", async () => {
    const pair = (await passwordGrant()).body
    const claims = JSON.parse(Buffer.from(pair.access_token.split(".")[1], "base64url").toString())
    const answer = await introspect(pair.access_token)
    assert.equal(answer.status, 200)
    assert.equal(answer.headers.get("cache-control"), "no-store")
    assert.deepEqual(answer.body, {
      active: true,
      sub: claims.sub,
      username: "olivia",
      roles: [],
      token_type: "Bearer",
      exp: claims.exp,
      iat: claims.iat,
      iss: "http://issuer.test",
      aud: "api",
      jti: claims.jti,
      sid: claims.sid,
      client_id: "revocable",
    })
    const posted = await call(url, "POST", "/oauth/introspect", {
      form: { token: pair.access_token, client_id: client.clientId, client_secret: client.clientSecret },
    })
    assert.equal(posted.body.active, true)
  })

  test('revoked, unknown, garbage and refresh tokens: exactly {"active":false}', async () => {
    const pair = (await passwordGrant()).body
    const revoked = (await passwordGrant()).body
    await call(url, "POST", "/auth/logout", { token: revoked.access_token })
    for (const token of [revoked.access_token, "garbage", "a.b.c", pair.refresh_token]) {
      const answer = await introspect(token)
      assert.equal(answer.status, 200)
      assert.equal(answer.text, '{"active":false}')
    }
  })

  test('an expired token: exactly {"active":false}', async () => {
    const pair = (await passwordGrant()).body
    mock.timers.enable({ apis: ["Date"], now: Date.now() + 2 * 3_600_000 })
    try {
      const answer = await introspect(pair.access_token)
      assert.equal(answer.text, '{"active":false}')
    } finally {
      mock.timers.reset()
    }
  })

  test("without token: 400 invalid_request", async () => {
    const answer = await call(url, "POST", "/oauth/introspect", { form: {}, headers: { authorization: basic } })
    assert.equal(answer.status, 400)
    assert.equal(answer.body.error, "invalid_request")
  })
})

describe("discovery", () => {
  test("RFC 8414 metadata names the issuer and every endpoint under it", async () => {
    const answer = await call(url, "GET", "/.well-known/oauth-authorization-server")
    assert.equal(answer.status, 200)
    assert.equal(answer.body.issuer, "http://issuer.test")
    assert.equal(answer.body.token_endpoint, "http://issuer.test/oauth/token")
    assert.equal(answer.body.revocation_endpoint, "http://issuer.test/oauth/revoke")
    assert.equal(answer.body.introspection_endpoint, "http://issuer.test/oauth/introspect")
    assert.equal(answer.body.jwks_uri, "http://issuer.test/.well-known/jwks.json")
    assert.deepEqual(answer.body.grant_types_supported, ["password", "client_credentials", "refresh_token"])
    assert.deepEqual(answer.body.scopes_supported, ["revocations:read"])
    assert.deepEqual(answer.body.introspection_endpoint_auth_methods_supported, ["client_secret_basic", "client_secret_post"])
  })

  test("the JWKS holds the public Ed25519 key that signs the tokens, never the private part", async () => {
    const answer = await call(url, "GET", "/.well-known/jwks.json")
    assert.equal(answer.status, 200)
    const [key] = answer.body.keys
    assert.equal(answer.body.keys.length, 1)
    assert.equal(key.kty, "OKP")
    assert.equal(key.crv, "Ed25519")
    assert.equal(key.alg, "EdDSA")
    assert.equal(key.use, "sig")
    assert.equal(key.d, undefined)
    const pair = (await passwordGrant()).body
    assert.equal(JSON.parse(Buffer.from(pair.access_token.split(".")[0], "base64url").toString()).kid, key.kid)
  })
})
