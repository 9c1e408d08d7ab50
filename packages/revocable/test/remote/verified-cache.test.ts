// The remote verifier's cache of verified tokens (core/verified-cache.ts): a token presented again skips only its
// WebCrypto signature check; expiry, every grain of revocation and the key are still checked on every call.
// Against a small server written here, in on-demand mode with a clock of our own: a verify polls the feed first
// whenever the clock moved past pollInterval, so what the feed says reaches the very next verify.
import assert from "node:assert/strict"
import { randomUUID } from "node:crypto"
import { createServer } from "node:http"
import { after, before, describe, test } from "node:test"
import { remoteVerifier, type FeedEntry, type RemoteVerifier, type RemoteVerifierOptions } from "../../src/remote/index.ts"
import { keyPair, outcome, signAccessToken, type SigningKey } from "./helpers.ts"

let base = ""
/** What the server publishes: its JWKS, and the live revocations every poll answers with (as a snapshot). */
let jwks: JsonWebKey[] = []
let revocations: FeedEntry[] = []
let cursor = 0

const server = createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://x").pathname
  const json = (body: object, status = 200) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body))
  if (path === "/.well-known/oauth-authorization-server") {
    return json({ issuer: base, jwks_uri: `${base}/jwks`, token_endpoint: `${base}/token`, revocations_endpoint: `${base}/revocations` })
  }
  if (path === "/jwks") return json({ keys: jwks })
  if (path === "/token") return json({ access_token: "feed-token", token_type: "Bearer", expires_in: 86_400 })
  if (path === "/revocations" && req.headers.authorization === "Bearer feed-token") {
    return json({ type: "snapshot", cursor: `c.${++cursor}`, revocations })
  }
  json({ error: "not_found" }, 404)
})

/** Every WebCrypto signature check in this process: the remote verifier's only way to verify. */
let signatureChecks = 0
const subtleVerify = crypto.subtle.verify
before(async () => {
  crypto.subtle.verify = function (this: SubtleCrypto, ...args: Parameters<SubtleCrypto["verify"]>) {
    signatureChecks++
    return subtleVerify.apply(this, args)
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
})
after(async () => {
  crypto.subtle.verify = subtleVerify
  await new Promise((resolve) => server.close(resolve))
})

/** The verifier's time, ms since the epoch; tokens are dated by it. */
let now = Date.UTC(2030, 0, 1)
const verifiers: RemoteVerifier[] = []
after(async () => {
  for (const verifier of verifiers) await verifier.close()
})

function makeVerifier(options: Partial<RemoteVerifierOptions> = {}): RemoteVerifier {
  const verifier = remoteVerifier({ issuer: base, clientId: "c", clientSecret: "s", mode: "on-demand", pollInterval: "1s", clock: () => now, ...options })
  verifiers.push(verifier)
  return verifier
}

function token(key: SigningKey, claims: Record<string, unknown> = {}): string {
  const iat = Math.floor(now / 1000)
  return signAccessToken(key, { iss: base, sub: "user-1", aud: "api", exp: iat + 600, iat, jti: randomUUID(), sid: randomUUID(), gen: 0, ...claims })
}

/** The outcome, and how many signatures were checked to reach it. */
async function checked(verifier: RemoteVerifier, jwt: string): Promise<[string, number]> {
  const start = signatureChecks
  const result = await outcome(verifier, jwt)
  return [result, signatureChecks - start]
}

/** Moves the clock past pollInterval: the next verify polls the feed before it answers. */
function nextPoll(): void {
  now += 1000
}

const exp = () => Math.floor(now / 1000) + 600

describe("remote verify with the cache: a repeated token skips only its signature check", () => {
  const key = keyPair()
  before(() => {
    jwks = [key.jwk]
    revocations = []
  })

  test("a token presented again is signature-checked once; with verifyCache false, at every call", async () => {
    const cached = makeVerifier()
    const jwt = token(key)
    assert.deepEqual(await checked(cached, jwt), ["ok", 1])
    for (let i = 0; i < 4; i++) assert.deepEqual(await checked(cached, jwt), ["ok", 0])
    const uncached = makeVerifier({ verifyCache: false })
    for (let i = 0; i < 5; i++) assert.deepEqual(await checked(uncached, jwt), ["ok", 1])
  })

  test("a token revoked after it was cached is refused on the hit, at every grain", async () => {
    const verifier = makeVerifier()
    const byJti = token(key)
    const bySession = token(key)
    const bySubject = token(key, { sub: "user-2", gen: 3 })
    for (const jwt of [byJti, bySession, bySubject]) assert.deepEqual(await checked(verifier, jwt), ["ok", 1])
    const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1] as string, "base64url").toString()) as { jti: string; sid: string }
    revocations = [
      { kind: "token", id: claims(byJti).jti, exp: exp() },
      { kind: "session", id: claims(bySession).sid, exp: exp() },
      { kind: "subject", id: "user-2", exp: exp(), cutoff: 4 },
    ]
    nextPoll()
    for (const jwt of [byJti, bySession, bySubject]) assert.deepEqual(await checked(verifier, jwt), ["token_revoked", 0])
    // Unrevoked, they are accepted again, still from the cache.
    revocations = []
    nextPoll()
    for (const jwt of [byJti, bySession, bySubject]) assert.deepEqual(await checked(verifier, jwt), ["ok", 0])
  })

  test("an entry ends at its token's exp: checked again within the leeway, then refused as expired", async () => {
    const verifier = makeVerifier({ leeway: "30s" })
    const jwt = token(key, { exp: Math.floor(now / 1000) + 60 })
    assert.deepEqual(await checked(verifier, jwt), ["ok", 1])
    assert.deepEqual(await checked(verifier, jwt), ["ok", 0])
    now += 61_000
    assert.deepEqual(await checked(verifier, jwt), ["ok", 1])
    // A token past its exp is not kept again.
    assert.deepEqual(await checked(verifier, jwt), ["ok", 1])
    now += 30_000
    assert.deepEqual(await checked(verifier, jwt), ["token_expired", 1])
  })

  test("no other token hits: every one-character variant of a cached token goes through the whole check", async () => {
    const verifier = makeVerifier()
    const jwt = token(key)
    assert.equal(await outcome(verifier, jwt), "ok")
    const variants = [jwt.slice(0, -1), `${jwt}A`]
    for (let i = 0; i < jwt.length; i++) variants.push(jwt.slice(0, i) + (jwt[i] === "A" ? "B" : "A") + jwt.slice(i + 1))
    for (const variant of variants) assert.notEqual(await outcome(verifier, variant), "ok", `variant ${variant}`)
    assert.deepEqual(await checked(verifier, jwt), ["ok", 0])
  })

  test("each call gets claims of its own: changing them does not change the next call's", async () => {
    const verifier = makeVerifier()
    const flat = token(key, { role: "reader" })
    const nested = token(key, { roles: ["reader"] })
    for (const jwt of [flat, nested]) {
      const first = (await verifier.verify(jwt)) as Record<string, unknown>
      first.role = "admin"
      ;(first.roles as string[] | undefined)?.push("admin")
      const second = (await verifier.verify(jwt)) as Record<string, unknown>
      assert.equal(second.role, jwt === flat ? "reader" : undefined)
      if (jwt === nested) assert.deepEqual(second.roles, ["reader"])
    }
  })

  test("the option is checked at construction", () => {
    for (const verifyCache of [{ entries: 0 }, { bytes: 1.5 }, "yes", null, []]) {
      assert.throws(() => makeVerifier({ verifyCache: verifyCache as never }), TypeError)
    }
  })
})

describe("remote verify with the cache: the tokens of a key that goes", () => {
  test("a key the feed retires: its cached tokens are refused", async () => {
    const key = keyPair()
    jwks = [key.jwk]
    revocations = []
    const verifier = makeVerifier()
    const jwt = token(key)
    assert.deepEqual(await checked(verifier, jwt), ["ok", 1])
    revocations = [{ kind: "key", id: key.jwk.kid, exp: exp() }]
    nextPoll()
    assert.deepEqual(await checked(verifier, jwt), ["token_revoked", 0])
    // For good: a retired kid stays retired, though the feed no longer names it.
    revocations = []
    nextPoll()
    assert.deepEqual(await checked(verifier, jwt), ["token_revoked", 0])
  })

  test("a kid the JWKS lists with other key material: its cached tokens are checked again, with the new key", async () => {
    const old = keyPair()
    const other = keyPair()
    jwks = [old.jwk]
    revocations = []
    const verifier = makeVerifier({ jwksRefetchInterval: "0s" })
    const jwt = token(old)
    assert.deepEqual(await checked(verifier, jwt), ["ok", 1])
    // The server now publishes other material under the same kid; a token with a kid the verifier does not hold
    // makes it refetch the JWKS.
    const replaced = keyPair(old.jwk.kid)
    jwks = [replaced.jwk, other.jwk]
    assert.equal(await outcome(verifier, token(other)), "ok")
    assert.deepEqual(await checked(verifier, jwt), ["token_invalid", 1])
    assert.deepEqual(await checked(verifier, token(replaced)), ["ok", 1])
  })

  test("a kid the JWKS no longer lists: its cached tokens are refused", async () => {
    const gone = keyPair()
    const other = keyPair()
    jwks = [gone.jwk]
    revocations = []
    const verifier = makeVerifier({ jwksRefetchInterval: "0s" })
    const jwt = token(gone)
    assert.equal(await outcome(verifier, jwt), "ok")
    jwks = [other.jwk]
    assert.equal(await outcome(verifier, token(other)), "ok")
    assert.equal(await outcome(verifier, jwt), "token_invalid")
  })
})
