// Key rotation as resource servers see it: jose's createRemoteJWKSet, with its default cache and cooldown, against
// the server's real JWKS URL. A set fetched before `keys rotate` accepts the first token the new key signs; the
// emergency rotation (now) is refused by a set fetched moments before, until jose may refetch (docs/server.md).
// Date is faked (node:test mock timers), and both the server's clock and jose's read it.
import assert from "node:assert/strict"
import { describe, test, type TestContext } from "node:test"
import { createRemoteJWKSet, errors, jwtVerify } from "jose"
import { memoryStore } from "revocable/stores/memory"
import { jwksMaxAge } from "../../src/server/routes/discovery.ts"
import { loadConfig } from "../../src/server/config.ts"
import { call, signIn, testServer, type TestServer } from "../helpers/server.ts"

const ADMIN_PASSWORD = "the admin's long passphrase"
/** jose's defaults: a set is refetched for an unknown kid only this long after the last fetch. */
const JOSE_COOLDOWN_MS = 30_000

async function rotationServer(t: TestContext, env: Record<string, string> = {}): Promise<{ server: TestServer; admin: string }> {
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() })
  const store = memoryStore({ clock: () => Date.now() })
  const server = await testServer({ REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD, ...env }, { store })
  t.after(async () => {
    await server.close()
    await store.close()
  })
  return { server, admin: (await signIn(server.url, "admin", ADMIN_PASSWORD, false)).access_token }
}

function kidOf(token: string): string {
  return JSON.parse(Buffer.from(token.split(".")[0] as string, "base64url").toString()).kid as string
}

describe("a resource server on jose's remote JWKS", () => {
  test("holding a set fetched before keys rotate, accepts the first token the new key signs, without waiting", async (t) => {
    const { server, admin } = await rotationServer(t)
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`))
    const verify = (token: string) => jwtVerify(token, jwks, { issuer: server.config.issuer, audience: "api", typ: "at+jwt" })
    const first = await signIn(server.url, "alice")
    await verify(first.access_token)

    const rotated = await call(server.url, "POST", "/admin/keys/rotate", { token: admin })
    assert.equal(rotated.status, 201)
    const next = rotated.body.kid as string
    const listed = (await call(server.url, "GET", "/.well-known/jwks.json")).body.keys.map((key: { kid: string }) => key.kid)
    assert.deepEqual(listed, [next, kidOf(first.access_token)], "published at once, the next key first")
    const meanwhile = await signIn(server.url, "alice", undefined, false)
    assert.equal(kidOf(meanwhile.access_token), kidOf(first.access_token), "the old key signs until the activation time")
    await verify(meanwhile.access_token)

    t.mock.timers.setTime(Date.parse(rotated.body.activates_at as string))
    const signedByNext = await signIn(server.url, "alice", undefined, false)
    assert.equal(kidOf(signedByNext.access_token), next)
    assert.equal((await verify(signedByNext.access_token)).protectedHeader.kid, next, "the set held the key, or refetched it for the unknown kid")
  })

  test("after an emergency rotation (now), a set fetched moments before refuses the new key's tokens until jose refetches it, after its cooldown", async (t) => {
    const { server, admin } = await rotationServer(t)
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`))
    const verify = (token: string) => jwtVerify(token, jwks, { issuer: server.config.issuer, audience: "api", typ: "at+jwt" })
    await verify((await signIn(server.url, "alice")).access_token)

    const rotated = await call(server.url, "POST", "/admin/keys/rotate", { token: admin, json: { now: true } })
    assert.equal(rotated.status, 201)
    const token = (await signIn(server.url, "alice", undefined, false)).access_token
    assert.equal(kidOf(token), rotated.body.kid, "signs at once")
    await assert.rejects(verify(token), errors.JWKSNoMatchingKey)
    t.mock.timers.tick(JOSE_COOLDOWN_MS)
    assert.equal((await verify(token)).protectedHeader.kid, rotated.body.kid)
  })
})

describe("the JWKS cache lifetime", () => {
  test("is at most half the key activation delay, and at most a minute", async () => {
    assert.equal(loadConfig({}).keyActivationDelayMs, 15 * 60_000, "15 minutes by default")
    assert.deepEqual([15 * 60_000, 120_000, 60_000, 1999, 0].map(jwksMaxAge), [60, 60, 30, 0, 0])
    for (const [delay, maxAge] of [["15m", 60], ["1m", 30], ["0", 0]] as const) {
      const server = await testServer({ REVOCABLE_KEY_ACTIVATION_DELAY: delay })
      try {
        assert.equal((await call(server.url, "GET", "/.well-known/jwks.json")).headers.get("cache-control"), `public, max-age=${maxAge}`)
      } finally {
        await server.close()
      }
    }
    assert.throws(() => loadConfig({ REVOCABLE_KEY_ACTIVATION_DELAY: "soon" }), /REVOCABLE_KEY_ACTIVATION_DELAY/)
  })
})
