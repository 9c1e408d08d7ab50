// Back-channel logout as deployed: two `revocable serve` processes on one store (PostgreSQL, Redis). The session
// is made through one; the provider's logout token reaches the other; the session is refused on both.
import assert from "node:assert/strict"
import { randomBytes, randomUUID } from "node:crypto"
import { describe, test } from "node:test"
import { importJWK, SignJWT } from "jose"
import { Pool } from "pg"
import { deleteKeys, REDIS_URL } from "../../../revocable/test/helpers/redis.ts"
import { Agent, CLIENT_ID, CLIENT_SECRET, reachCallback, startProvider } from "../helpers/oidc-provider.ts"
import { startProcess, stopProcess } from "../helpers/process.ts"
import { call, freePort } from "../helpers/server.ts"

const POSTGRES_URL = process.env.REVOCABLE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test"
const KEK = randomBytes(32).toString("base64")

/** Polls until the token is refused where it was not revoked: the change travels through the store's feed. */
async function refusedOn(base: string, token: string): Promise<string> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const me = await call(base, "GET", "/me", { token })
    if (me.status !== 200) return me.body.error
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return "live"
}

async function liveOn(base: string, token: string): Promise<boolean> {
  return (await call(base, "GET", "/me", { token })).status === 200
}

async function logoutAcrossProcesses(storeEnv: Record<string, string>): Promise<void> {
  const [portOne, portTwo] = [await freePort(), await freePort()]
  // Both instances answer for one public URL, as behind a load balancer: here the first one's.
  const issuer = `http://127.0.0.1:${portOne}`
  const provider = await startProvider([
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [`${issuer}/auth/oidc/test/callback`],
      backchannel_logout_uri: `http://127.0.0.1:${portTwo}/auth/oidc/test/backchannel-logout`,
      backchannel_logout_session_required: true,
    },
  ])
  const env = {
    ...storeEnv,
    REVOCABLE_KEY_ENCRYPTION_KEY: KEK,
    REVOCABLE_ISSUER: issuer,
    REVOCABLE_OIDC_TEST_ISSUER: provider.issuer,
    REVOCABLE_OIDC_TEST_CLIENT_ID: CLIENT_ID,
    REVOCABLE_OIDC_TEST_CLIENT_SECRET: CLIENT_SECRET,
  }
  const one = await startProcess({ ...env, REVOCABLE_PORT: String(portOne) })
  const two = await startProcess({ ...env, REVOCABLE_PORT: String(portTwo) })
  try {
    const signIn = async (account: string) => {
      const agent = new Agent()
      assert.equal((await agent.request(await reachCallback(agent, `${one.url}/auth/oidc/test`, account))).status, 303)
      return { agent, access: agent.cookie(one.url, "access_token") as string }
    }
    const first = await signIn("quinn")
    const second = await signIn("quinn")
    assert.ok(await liveOn(two.url, first.access))

    // Signing out at the provider: it posts the logout token (sid) to the second instance before answering.
    const page = await first.agent.request(`${provider.issuer}/session/end`)
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(await page.text())?.[1]
    assert.ok(xsrf)
    assert.ok((await first.agent.request(`${provider.issuer}/session/end/confirm`, { form: { xsrf, logout: "yes" } })).status < 400)
    assert.equal((await call(two.url, "GET", "/me", { token: first.access })).body.error, "token_revoked", "at once where it was received")
    assert.equal(await refusedOn(one.url, first.access), "token_revoked", "through the store where the session was made")
    assert.ok(await liveOn(one.url, second.access), "another provider session stays")

    // A logout token naming the user alone, received by the first instance, ends the rest on both.
    const logoutToken = await new SignJWT({ events: { "http://schemas.openid.net/event/backchannel-logout": {} }, jti: randomUUID(), sub: "quinn" })
      .setProtectedHeader({ alg: "ES256", kid: provider.signingKey.kid, typ: "logout+jwt" })
      .setIssuer(provider.issuer)
      .setAudience(CLIENT_ID)
      .setIssuedAt()
      .sign(await importJWK(provider.signingKey, "ES256"))
    assert.equal((await call(one.url, "POST", "/auth/oidc/test/backchannel-logout", { form: { logout_token: logoutToken } })).status, 200)
    assert.equal(await refusedOn(two.url, second.access), "token_revoked")
  } finally {
    await Promise.all([stopProcess(one), stopProcess(two)])
    await provider.close()
  }
}

describe("back-channel logout on two server processes", () => {
  test("on one PostgreSQL", async () => {
    const schema = `oidc_${process.pid}_${randomBytes(4).toString("hex")}`
    const admin = new Pool({ connectionString: POSTGRES_URL, max: 1 })
    try {
      await logoutAcrossProcesses({ REVOCABLE_STORE: POSTGRES_URL, REVOCABLE_STORE_NAMESPACE: schema })
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await admin.end()
    }
  })

  test("on one Redis", async () => {
    const prefix = `oidc_${process.pid}_${randomBytes(4).toString("hex")}`
    try {
      await logoutAcrossProcesses({ REVOCABLE_STORE: REDIS_URL, REVOCABLE_STORE_NAMESPACE: prefix })
    } finally {
      await deleteKeys(REDIS_URL, [prefix])
    }
  })
})
