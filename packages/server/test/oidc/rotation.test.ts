// The provider rotates its signing keys the way providers do: the next key is published before it signs, then it
// signs, then the old key is withdrawn. Sign-in keeps working at each step, and back-channel logout tokens signed
// with the new key are accepted. The provider (oidc-provider) is restarted on its port with each key set.
import assert from "node:assert/strict"
import { randomUUID } from "node:crypto"
import { after, before, test } from "node:test"
import { importJWK, SignJWT } from "jose"
import { Agent, CLIENT_ID, CLIENT_SECRET, providerKey, reachCallback, startProvider, type ProviderKey, type TestProvider } from "../helpers/oidc-provider.ts"
import { call, freePort, testServer, type TestServer } from "../helpers/server.ts"

let server: TestServer
let provider: TestProvider
let base: string
let providerPort: number
const previous = providerKey("key-2025")
const next = providerKey("key-2026")

/** The provider on its port, publishing `keys` and signing with the first. */
async function providerWith(keys: ProviderKey[]): Promise<void> {
  await provider?.close()
  provider = await startProvider(
    [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [`${base}/auth/oidc/test/callback`],
        backchannel_logout_uri: `${base}/auth/oidc/test/backchannel-logout`,
        backchannel_logout_session_required: true,
      },
    ],
    { port: providerPort, keys },
  )
}

before(async () => {
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  providerPort = await freePort()
  await providerWith([previous, next])
  server = await testServer({
    REVOCABLE_PORT: String(port),
    REVOCABLE_ISSUER: base,
    REVOCABLE_OIDC_TEST_ISSUER: provider.issuer,
    REVOCABLE_OIDC_TEST_CLIENT_ID: CLIENT_ID,
    REVOCABLE_OIDC_TEST_CLIENT_SECRET: CLIENT_SECRET,
  })
})
after(async () => {
  await server?.close()
  await provider?.close()
})

/** Signs `account` in through the provider; resolves the access token. */
async function signIn(account: string): Promise<string> {
  const agent = new Agent()
  const landed = await agent.request(await reachCallback(agent, `${base}/auth/oidc/test`, account))
  assert.equal(landed.status, 303)
  assert.equal(landed.headers.get("location"), "/", "signed in")
  return agent.cookie(base, "access_token") as string
}

async function logOutAtProvider(sub: string, key: ProviderKey): Promise<number> {
  const token = await new SignJWT({ events: { "http://schemas.openid.net/event/backchannel-logout": {} }, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), sub })
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "logout+jwt" })
    .setIssuer(provider.issuer)
    .setAudience(CLIENT_ID)
    .sign(await importJWK(key, "ES256"))
  return (await call(base, "POST", "/auth/oidc/test/backchannel-logout", { form: { logout_token: token } })).status
}

const me = async (access: string) => {
  const answer = await call(base, "GET", "/me", { token: access })
  return answer.status === 200 ? "live" : answer.body.error
}

test("sign-in and back-channel logout keep working while the provider rotates its signing key", async () => {
  // The next key is published; the previous one signs.
  const first = await signIn("rosa")
  assert.equal(await logOutAtProvider("rosa", previous), 200)
  assert.equal(await me(first), "token_revoked")

  // The next key signs; the previous one is still published for tokens it signed.
  await providerWith([next, previous])
  const second = await signIn("rosa")
  assert.equal(await me(second), "live")
  assert.equal(await logOutAtProvider("rosa", next), 200, "a logout token signed with the new key is accepted")
  assert.equal(await me(second), "token_revoked")

  // The previous key is withdrawn.
  await providerWith([next])
  const third = await signIn("rosa")
  assert.equal(await me(third), "live")
  assert.equal(await logOutAtProvider("rosa", next), 200)
  assert.equal(await me(third), "token_revoked")
})

test("a logout token signed by a key the provider never published is refused and revokes nothing", async () => {
  const access = await signIn("sam")
  assert.equal(await logOutAtProvider("sam", providerKey(next.kid)), 400)
  assert.equal(await me(access), "live")
})
