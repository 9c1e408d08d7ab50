// revocable/remote against a real server process (issue 15, points 3 and 8): a service with only client
// credentials verifies the server's EdDSA tokens and refuses each grain of revocation as soon as it arrives.
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import express from "express"
import { authenticate } from "revocable/express"
import { remoteVerifier, type RemoteVerifier } from "revocable/remote"
import { call, PASSWORD, signIn } from "../helpers/server.ts"
import { claimsOf, feedClient, nextEvent, outcome, startFeedServer, stop, type FeedServer } from "./helpers.ts"

let server: FeedServer
let credentials: { clientId: string; clientSecret: string }
const verifiers: RemoteVerifier[] = []

before(async () => {
  // A rotated key signs at once (the test retires the key it just made current).
  server = await startFeedServer({ REVOCABLE_KEY_ACTIVATION_DELAY: "0s" })
  credentials = await feedClient(server)
})
after(async () => {
  for (const verifier of verifiers) await verifier.close()
  await stop(server)
  server.cleanup()
})

async function started(mode: "stream" | "poll" | "auto", jwksRefetchInterval = "30s"): Promise<RemoteVerifier> {
  const verifier = remoteVerifier({ issuer: server.url, ...credentials, mode, maxStaleness: "5s", jwksRefetchInterval })
  verifiers.push(verifier)
  await verifier.ready
  return verifier
}

const revoke = (json: Record<string, string>) => call(server.url, "POST", "/admin/revocations", { token: server.admin, json })

// auto streams from a server that serves the stream.
for (const [mode, follows] of [["poll", "poll"], ["stream", "stream"], ["auto", "stream"]] as const) {
  describe(`${mode}: each grain of revocation is refused at the next event`, () => {
    let verifier: RemoteVerifier
    before(async () => {
      verifier = await started(mode)
      assert.equal(verifier.status().mode, follows)
    })

    test("a fresh access token verifies with the server's claims; its refresh token is wrong_token_type", async () => {
      const pair = await signIn(server.url, `ada_${mode}`)
      const claims = await verifier.verify(pair.access_token)
      const expected = claimsOf(pair.access_token)
      assert.equal(claims.sub, expected.sub)
      assert.equal(claims.jti, expected.jti)
      assert.equal(claims.sid, expected.sid)
      assert.equal(await outcome(verifier, pair.refresh_token), "wrong_token_type")
      const at = pair.access_token.length - 10
      const tampered = pair.access_token.slice(0, at) + (pair.access_token[at] === "A" ? "B" : "A") + pair.access_token.slice(at + 1)
      assert.equal(await outcome(verifier, tampered), "token_invalid")
      assert.equal(await outcome(verifier, "not-a-token"), "token_malformed")
      assert.equal(verifier.status().fresh, true)
    })

    test("revoking the token, then logging out a session, then every token of a user", async () => {
      const one = await signIn(server.url, `bob_${mode}`)
      const two = await signIn(server.url, `bob_${mode}`, PASSWORD, false)
      const three = await signIn(server.url, `bob_${mode}`, PASSWORD, false)
      for (const pair of [one, two, three]) assert.equal(await outcome(verifier, pair.access_token), "ok")

      const jti = claimsOf(one.access_token).jti
      const tokenRevoked = nextEvent(verifier, "revoked", (entry) => entry.id === jti)
      assert.equal((await revoke({ kind: "token", id: one.access_token })).status, 201)
      await tokenRevoked
      assert.equal(await outcome(verifier, one.access_token), "token_revoked")
      assert.equal(await outcome(verifier, two.access_token), "ok")

      const sid = claimsOf(two.access_token).sid
      const loggedOut = nextEvent(verifier, "revoked", (entry) => entry.kind === "session" && entry.id === sid)
      assert.equal((await call(server.url, "POST", "/auth/logout", { token: two.access_token })).status, 204)
      await loggedOut
      assert.equal(await outcome(verifier, two.access_token), "token_revoked")
      assert.equal(await outcome(verifier, three.access_token), "ok")

      const sub = claimsOf(three.access_token).sub
      const cutOff = nextEvent(verifier, "revoked", (entry) => entry.kind === "subject" && entry.id === sub)
      assert.equal((await call(server.url, "POST", "/auth/logout-all", { token: three.access_token })).status, 204)
      await cutOff
      assert.equal(await outcome(verifier, three.access_token), "token_revoked")
      // A login after the cut-off is a new generation: accepted.
      const fresh = await signIn(server.url, `bob_${mode}`, PASSWORD, false)
      assert.equal(await outcome(verifier, fresh.access_token), "ok")
    })
  })
}

describe("keys", () => {
  test("a token of a rotated-in key verifies after one JWKS refetch; retiring that key refuses its tokens for good", async () => {
    // No wait between refetches here: the rate limit has its own test (test/remote in the library).
    const verifier = await started("auto", "0s")
    const rotated = await call(server.url, "POST", "/admin/keys/rotate", { token: server.admin })
    assert.equal(rotated.status, 201, rotated.text)
    const { kid } = rotated.body
    const pair = await signIn(server.url, "carol")
    assert.equal(JSON.parse(Buffer.from(pair.access_token.split(".")[0] as string, "base64url").toString()).kid, kid)
    assert.equal(await outcome(verifier, pair.access_token), "ok")

    const retired = nextEvent(verifier, "revoked", (entry) => entry.kind === "key" && entry.id === kid)
    assert.equal((await call(server.url, "DELETE", `/admin/keys/${kid}`, { token: server.admin, json: {} })).status, 200)
    await retired
    assert.equal(await outcome(verifier, pair.access_token), "token_revoked")
    // Un-revoking the key's revocation record does not bring it back to this verifier.
    await call(server.url, "DELETE", `/admin/revocations/key/${kid}`, { token: server.admin })
    assert.equal(await outcome(verifier, pair.access_token), "token_revoked")
  })
})

describe("the Express adapter takes a remote verifier unchanged", () => {
  test("authenticate(remote): 200 with the claims, then 401 token_revoked once the user logs out", async () => {
    const verifier = await started("auto")
    const app = express()
    app.get("/orders", authenticate(verifier), (req, res) => void res.json({ sub: req.auth?.sub }))
    const listener = app.listen(0, "127.0.0.1")
    await new Promise((resolve) => listener.once("listening", resolve))
    try {
      const base = `http://127.0.0.1:${(listener.address() as { port: number }).port}`
      const pair = await signIn(server.url, "dora")
      const ok = await call(base, "GET", "/orders", { token: pair.access_token })
      assert.equal(ok.status, 200)
      assert.equal(ok.body.sub, claimsOf(pair.access_token).sub)
      const loggedOut = nextEvent(verifier, "revoked", (entry) => entry.id === claimsOf(pair.access_token).sid)
      await call(server.url, "POST", "/auth/logout", { token: pair.access_token })
      await loggedOut
      const refused = await call(base, "GET", "/orders", { token: pair.access_token })
      assert.equal(refused.status, 401)
      assert.equal(refused.body.error, "token_revoked")
      assert.equal((await call(base, "GET", "/orders")).body.error, "token_missing")
    } finally {
      await new Promise((resolve) => listener.close(resolve))
    }
  })
})

describe("credentials", () => {
  test("a wrong client secret: ready rejects naming the token endpoint's 401", async () => {
    const verifier = remoteVerifier({ issuer: server.url, clientId: credentials.clientId, clientSecret: "wrong", mode: "poll" })
    verifiers.push(verifier)
    await assert.rejects(verifier.ready, (error: Error & { status?: number }) => {
      assert.equal(error.status, 401)
      assert.match(error.message, /token endpoint refused the verifier's client credentials \(401 invalid_client/)
      return true
    })
  })

  test("a client not registered with revocations:read: ready rejects with the token endpoint's invalid_scope", async () => {
    const other = await feedClient(server, ["orders:read"])
    const verifier = remoteVerifier({ issuer: server.url, ...other, mode: "poll" })
    verifiers.push(verifier)
    await assert.rejects(verifier.ready, /400 invalid_scope: This client may not ask for: revocations:read/)
  })

  test("removing the verifier's client: the feed refuses it, the verifier says so and fails closed", async () => {
    const own = await feedClient(server)
    const verifier = remoteVerifier({ issuer: server.url, ...own, mode: "poll", maxStaleness: "1s" })
    verifiers.push(verifier)
    await verifier.ready
    const pair = await signIn(server.url, "erin")
    assert.equal(await outcome(verifier, pair.access_token), "ok")
    const refused = nextEvent(verifier, "error", (error) => /invalid_client/.test(error.message))
    const stale = nextEvent(verifier, "stale")
    assert.equal((await call(server.url, "DELETE", `/admin/clients/${own.clientId}`, { token: server.admin })).status, 204)
    const [error] = await refused
    assert.match(error.message, /401 invalid_client/)
    await stale
    await assert.rejects(verifier.verify(pair.access_token), (failure: Error & { code?: string; cause?: unknown }) => {
      assert.equal(failure.code, "store_unavailable")
      assert.match(String((failure.cause as Error)?.message), /401/)
      return true
    })
  })
})
