// OpenID Connect Back-Channel Logout 1.0: the provider's logout_token revokes the local sessions made from that
// provider session (sid), or every session of the user made through that provider (sub alone); any invalid token
// is 400 and revokes nothing.
import assert from "node:assert/strict"
import { generateKeyPairSync, randomUUID } from "node:crypto"
import { after, before, describe, test } from "node:test"
import { importJWK, SignJWT, type JWTPayload } from "jose"
import { Agent, CLIENT_ID, federation, reachCallback } from "../helpers/oidc-provider.ts"
import { call, signIn } from "../helpers/server.ts"

type Federation = Awaited<ReturnType<typeof federation>>
let world: Federation
const EVENT = { "http://schemas.openid.net/event/backchannel-logout": {} }

before(async () => {
  world = await federation()
})
after(() => world.close())

async function federatedSignIn(account: string): Promise<{ agent: Agent; access: string; sub: string }> {
  const agent = new Agent()
  await agent.request(await reachCallback(agent, `${world.base}/auth/oidc/test`, account))
  const access = agent.cookie(world.base, "access_token") as string
  return { agent, access, sub: JSON.parse(Buffer.from(access.split(".")[1] as string, "base64url").toString()).sub }
}

async function status(access: string): Promise<string> {
  const me = await call(world.base, "GET", "/me", { token: access })
  return me.status === 200 ? "live" : me.body.error
}

async function logoutToken(claims: JWTPayload, key: JsonWebKey & { kid: string } = world.provider.signingKey): Promise<string> {
  return new SignJWT({ events: EVENT, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "logout+jwt" })
    .setIssuer(world.provider.issuer)
    .setAudience(CLIENT_ID)
    .sign(await importJWK(key, "ES256"))
}

async function post(token: string | undefined) {
  return call(world.base, "POST", "/auth/oidc/test/backchannel-logout", { form: token === undefined ? {} : { logout_token: token } })
}

describe("back-channel logout", () => {
  test("signing out at the provider revokes the sessions made from that provider session, and only those", async () => {
    const first = await federatedSignIn("kim")
    const second = await federatedSignIn("kim")
    const password = await signIn(world.base, "kim-local")
    // The provider's own RP-initiated logout page, confirmed: it posts a logout_token to revocable before answering.
    const page = await first.agent.request(`${world.provider.issuer}/session/end`)
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(await page.text())?.[1]
    assert.ok(xsrf)
    const confirmed = await first.agent.request(`${world.provider.issuer}/session/end/confirm`, { form: { xsrf, logout: "yes" } })
    assert.ok(confirmed.status < 400)
    assert.equal(await status(first.access), "token_revoked")
    assert.equal(await status(second.access), "live", "another provider session of the same user")
    assert.equal(await status(password.access_token), "live")
  })

  test("a token with sub alone revokes every session of that user made through this provider, not a password session", async () => {
    const first = await federatedSignIn("lee")
    const second = await federatedSignIn("lee")
    const answer = await post(await logoutToken({ sub: "lee" }))
    assert.equal(answer.status, 200)
    assert.equal(answer.headers.get("cache-control"), "no-store")
    assert.equal(await status(first.access), "token_revoked")
    assert.equal(await status(second.access), "token_revoked")
  })

  test("an invalid logout token is 400 invalid_request and revokes nothing", async () => {
    const victim = await federatedSignIn("max")
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" })
    const otherKey = { ...privateKey.export({ format: "jwk" }), kid: world.provider.signingKey.kid }
    const bad: Array<[string, string | undefined]> = [
      ["missing", undefined],
      ["garbage", "not.a.jwt"],
      ["signed by another key", await logoutToken({ sub: "max" }, otherKey)],
      ["wrong audience", await new SignJWT({ events: EVENT, jti: randomUUID(), sub: "max" }).setProtectedHeader({ alg: "ES256", kid: world.provider.signingKey.kid }).setIssuer(world.provider.issuer).setAudience("someone-else").setIssuedAt().sign(await importJWK(world.provider.signingKey, "ES256"))],
      ["wrong issuer", await new SignJWT({ events: EVENT, jti: randomUUID(), sub: "max" }).setProtectedHeader({ alg: "ES256", kid: world.provider.signingKey.kid }).setIssuer("http://127.0.0.1:1").setAudience(CLIENT_ID).setIssuedAt().sign(await importJWK(world.provider.signingKey, "ES256"))],
      ["no events claim", await logoutToken({ sub: "max", events: undefined })],
      ["events without the logout event", await logoutToken({ sub: "max", events: { "http://example.com/other": {} } })],
      ["a nonce", await logoutToken({ sub: "max", nonce: "n-0S6_WzA2Mj" })],
      ["neither sid nor sub", await logoutToken({})],
      ["no jti", await logoutToken({ sub: "max", jti: undefined })],
      ["issued an hour ago", await logoutToken({ sub: "max", iat: Math.floor(Date.now() / 1000) - 3600 })],
    ]
    for (const [what, token] of bad) {
      const answer = await post(token)
      assert.equal(answer.status, 400, what)
      assert.equal(answer.body.error, "invalid_request", what)
    }
    assert.equal(await status(victim.access), "live")
  })

  test("a logout token is single use: its replay is 400", async () => {
    await federatedSignIn("nia")
    const token = await logoutToken({ sub: "nia" })
    assert.equal((await post(token)).status, 200)
    const replay = await post(token)
    assert.equal(replay.status, 400)
    assert.equal(replay.body.error, "invalid_request")
  })
})
