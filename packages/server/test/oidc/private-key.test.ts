// private_key_jwt: a provider whose client authenticates with a private key (RFC 7523) instead of a secret, from a
// PEM or a JWK file, against a real OpenID Provider (oidc-provider) that registered the client's public keys.
import assert from "node:assert/strict"
import { generateKeyPairSync } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, test } from "node:test"
import { Agent, CLIENT_ID, reachCallback, startProvider, type TestProvider } from "../helpers/oidc-provider.ts"
import { call, freePort, testServer, type TestServer } from "../helpers/server.ts"

const dir = mkdtempSync(join(tmpdir(), "revocable-oidc-key-"))
let provider: TestProvider
let server: TestServer
let base: string

before(async () => {
  // An RSA key in PEM (no kid) and an EC key as a JWK with its kid: both registered at the provider.
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 })
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" })
  // A key the provider never registered.
  const stranger = generateKeyPairSync("ec", { namedCurve: "P-256" })
  writeFileSync(join(dir, "rsa.pem"), rsa.privateKey.export({ format: "pem", type: "pkcs8" }))
  writeFileSync(join(dir, "ec.jwk"), JSON.stringify({ ...ec.privateKey.export({ format: "jwk" }), kid: "revocable-ec" }))
  writeFileSync(join(dir, "stranger.pem"), stranger.privateKey.export({ format: "pem", type: "sec1" }))

  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  const names = ["pem", "jwk", "stranger"]
  provider = await startProvider([
    {
      client_id: CLIENT_ID,
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [rsa.publicKey.export({ format: "jwk" }), { ...ec.publicKey.export({ format: "jwk" }), kid: "revocable-ec" }] },
      redirect_uris: names.map((name) => `${base}/auth/oidc/${name}/callback`),
    },
  ])
  provider.accounts.set("kim", { email: "kim@example.com", email_verified: true })
  const env = Object.fromEntries(
    names.flatMap((name) => {
      const prefix = `REVOCABLE_OIDC_${name.toUpperCase()}_`
      const file = join(dir, { pem: "rsa.pem", jwk: "ec.jwk", stranger: "stranger.pem" }[name] as string)
      return [[`${prefix}ISSUER`, provider.issuer], [`${prefix}CLIENT_ID`, CLIENT_ID], [`${prefix}PRIVATE_KEY_FILE`, file]]
    }),
  )
  server = await testServer({ REVOCABLE_PORT: String(port), REVOCABLE_ISSUER: base, ...env })
})
after(async () => {
  await server?.close()
  await provider?.close()
  rmSync(dir, { recursive: true, force: true })
})

test("a client with a private key signs in: the token request carries a private_key_jwt assertion, PEM or JWK", async () => {
  const seen: string[] = []
  const listener = (ctx: { oidc: { client?: { clientId: string } } }) => seen.push(ctx.oidc.client?.clientId ?? "")
  provider.provider.on("grant.success", listener)
  try {
    for (const name of ["pem", "jwk"]) {
      const agent = new Agent()
      const landed = await agent.request(await reachCallback(agent, `${base}/auth/oidc/${name}`, "kim"))
      assert.equal(landed.status, 303, name)
      assert.equal(landed.headers.get("location"), "/")
      const me = await call(base, "GET", "/me", { token: agent.cookie(base, "access_token") as string })
      assert.equal(me.status, 200)
      assert.equal(me.body.username, "kim@example.com")
    }
  } finally {
    provider.provider.off("grant.success", listener)
  }
  assert.deepEqual(seen, [CLIENT_ID, CLIENT_ID], "the provider authenticated the client at its token endpoint twice")
})

test("a key the provider did not register is refused there: a clear error, no session", async () => {
  const agent = new Agent()
  const answer = await agent.request(await reachCallback(agent, `${base}/auth/oidc/stranger`, "kim"))
  assert.equal(answer.status, 400)
  const body = await answer.json()
  assert.equal(body.error, "oidc_callback_invalid")
  assert.equal(body.provider_error, "invalid_client")
  assert.equal(agent.cookie(base, "access_token"), undefined)
})
