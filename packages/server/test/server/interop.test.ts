// A real OAuth client nobody here wrote (panva's oauth4webapi) and jose's remote JWKS, against the running server.
import assert from "node:assert/strict"
import { after, before, test } from "node:test"
import { createRemoteJWKSet, jwtVerify } from "jose"
import * as oauth from "oauth4webapi"
import { clientDirectory } from "../../src/server/client-directory.ts"
import { call, freePort, PASSWORD, testServer, type TestServer } from "../helpers/server.ts"

let server: TestServer
let issuer: URL
let as: oauth.AuthorizationServer
/** A registered public client (RFC 6749 §2.1): it names itself with client_id and has no secret. */
let client: oauth.Client
const insecure = { [oauth.allowInsecureRequests]: true }

before(async () => {
  // The issuer must be the server's own URL for discovery, so the port is chosen before the start.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    try {
      server = await testServer({ REVOCABLE_PORT: String(port), REVOCABLE_ISSUER: `http://127.0.0.1:${port}` })
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt === 5) throw error
    }
  }
  issuer = new URL(server.url)
  client = { client_id: (await clientDirectory(server.store).createPublic("interop-app")).clientId }
  await call(server.url, "POST", "/auth/register", { json: { username: "interop", password: PASSWORD } })
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure }))
})
after(() => server.close())

async function passwordGrant(): Promise<oauth.TokenEndpointResponse> {
  const response = await oauth.genericTokenEndpointRequest(as, client, oauth.None(), "password", { username: "interop", password: PASSWORD }, insecure)
  return oauth.processGenericTokenEndpointResponse(as, client, response)
}

test("oauth4webapi discovers the server from its RFC 8414 metadata", () => {
  assert.equal(as.issuer, issuer.href.replace(/\/$/, ""))
  assert.equal(as.token_endpoint, `${as.issuer}/oauth/token`)
  assert.equal(as.jwks_uri, `${as.issuer}/.well-known/jwks.json`)
})

test("the password grant through oauth4webapi; jose verifies the access token against the remote JWKS; RFC 9068 holds", async () => {
  const tokens = await passwordGrant()
  assert.equal(tokens.token_type, "bearer")
  assert.equal(typeof tokens.refresh_token, "string")
  const jwks = createRemoteJWKSet(new URL(as.jwks_uri as string))
  const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, { issuer: as.issuer, audience: "api", typ: "at+jwt" })
  assert.equal(protectedHeader.alg, "EdDSA")
  assert.equal(payload.client_id, client.client_id)
  const me = await call(server.url, "GET", "/me", { token: tokens.access_token })
  assert.equal(payload.sub, me.body.sub)

  const request = new Request(`${server.url}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  const claims = await oauth.validateJwtAccessToken(as, request, "api", insecure)
  assert.equal(claims.sub, me.body.sub)
})

test("refresh, introspection and revocation through oauth4webapi", async () => {
  const { clientId, clientSecret } = await clientDirectory(server.store).create("interop-rs")
  const resourceServer: oauth.Client = { client_id: clientId }
  const first = await passwordGrant()

  const refreshed = await oauth.processRefreshTokenResponse(
    as,
    client,
    await oauth.refreshTokenGrantRequest(as, client, oauth.None(), first.refresh_token as string, insecure),
  )
  assert.notEqual(refreshed.refresh_token, first.refresh_token)

  for (const auth of [oauth.ClientSecretBasic(clientSecret), oauth.ClientSecretPost(clientSecret)]) {
    const active = await oauth.processIntrospectionResponse(
      as,
      resourceServer,
      await oauth.introspectionRequest(as, resourceServer, auth, refreshed.access_token, insecure),
    )
    assert.equal(active.active, true)
    assert.equal(active.username, "interop")
    assert.equal(active.client_id, client.client_id)
  }

  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, oauth.None(), refreshed.refresh_token as string, insecure))

  const inactive = await oauth.processIntrospectionResponse(
    as,
    resourceServer,
    await oauth.introspectionRequest(as, resourceServer, oauth.ClientSecretBasic(clientSecret), refreshed.access_token, insecure),
  )
  assert.deepEqual(inactive, { active: false })

  await assert.rejects(
    oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshed.refresh_token as string, insecure)),
    (error: unknown) => error instanceof oauth.ResponseBodyError && error.error === "invalid_grant" && error.status === 400,
  )
  // The signature still checks out (a JWKS knows nothing of revocation); the server itself refuses the token.
  assert.equal((await call(server.url, "GET", "/me", { token: refreshed.access_token })).body.error, "token_revoked")
})

test("a wrong password through oauth4webapi is a ResponseBodyError invalid_grant", async () => {
  const response = await oauth.genericTokenEndpointRequest(as, client, oauth.None(), "password", { username: "interop", password: "wrong password" }, insecure)
  await assert.rejects(oauth.processGenericTokenEndpointResponse(as, client, response), (error: unknown) => error instanceof oauth.ResponseBodyError && error.error === "invalid_grant")
})

test("the client_credentials grant through oauth4webapi: a scoped token jose verifies, revocable through RFC 7009", async () => {
  assert.ok(as.grant_types_supported?.includes("client_credentials"))
  assert.deepEqual(as.scopes_supported, ["revocations:read"])
  const { clientId, clientSecret } = await clientDirectory(server.store).create("interop-service", { scopes: ["revocations:read"] })
  const service: oauth.Client = { client_id: clientId }
  for (const auth of [oauth.ClientSecretBasic(clientSecret), oauth.ClientSecretPost(clientSecret)]) {
    const response = await oauth.clientCredentialsGrantRequest(as, service, auth, new URLSearchParams({ scope: "revocations:read" }), insecure)
    const tokens = await oauth.processClientCredentialsResponse(as, service, response)
    assert.equal(tokens.token_type, "bearer")
    assert.equal(tokens.refresh_token, undefined)
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(as.jwks_uri as string)), { issuer: as.issuer, audience: "api", typ: "at+jwt" })
    assert.equal(payload.sub, clientId)
    assert.equal(payload.client_id, clientId)
    assert.equal(payload.scope, "revocations:read")
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, service, auth, tokens.access_token, insecure))
    assert.equal((await call(server.url, "GET", "/me", { token: tokens.access_token })).body.error, "token_revoked")
  }

  const refused = await oauth.clientCredentialsGrantRequest(as, service, oauth.ClientSecretBasic(clientSecret), new URLSearchParams({ scope: "admin" }), insecure)
  await assert.rejects(oauth.processClientCredentialsResponse(as, service, refused), (error: unknown) => error instanceof oauth.ResponseBodyError && error.error === "invalid_scope" && error.status === 400)
})
