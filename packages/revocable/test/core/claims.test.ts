// The claims revocable sets itself are its own: no application claim can stand in for one, and so none can
// move a token out of reach of the revocations that match it (its jti, sid, sub, gen) or extend its life.
import assert from "node:assert/strict"
import { after, test } from "node:test"
import { createAuth } from "../../src/index.ts"
import { RESERVED_CLAIMS } from "../../src/core/claims.ts"
import { memoryStore } from "../../src/stores/memory.ts"

const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store: memoryStore(), keys: [{ alg: "HS256", secret: "a fixed secret of 32 bytes, or more" }] })
after(() => auth.close())

test("issue() refuses an application claim named for any claim revocable sets, and names it", async () => {
  const names = ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "gen"]
  assert.deepEqual([...RESERVED_CLAIMS].sort(), [...names].sort())
  for (const name of names) {
    await assert.rejects(auth.issue("alice", { claims: { role: "admin", [name]: "x" } }), (error: Error & { code?: string }) => error.code === "invalid_request" && error.message.includes(name))
  }
  assert.equal((await auth.verify((await auth.issue("alice", { claims: { role: "admin", nbf2: 1 } })).accessToken)).role, "admin")
})

test("issue() refuses claims that would make an access token too long for verify, and opens no session for them", async () => {
  const store = memoryStore()
  const eddsa = createAuth({ issuer: "https://issuer.test", audience: "api", store })
  try {
    // Found by the verify property (test/fuzz): a long subject and a large claim made a token every verify refused.
    const subject = "s".repeat(1024)
    await assert.rejects(eddsa.issue(subject, { claims: { blob: "x".repeat(7000) } }), (error: Error & { code?: string }) => error.code === "invalid_request" && error.message.includes("8192"))
    assert.equal((await store.listSessions(subject, 3_600_000)).length, 0, "no session is left behind")
    // Just under the limit, the token verifies and refreshes.
    let size = 1000
    while ((await eddsa.issue(subject, { claims: { blob: "x".repeat(size + 100) } }).then(() => true, () => false))) size += 100
    const pair = await eddsa.issue(subject, { claims: { blob: "x".repeat(size) } })
    assert.ok(pair.accessToken.length > 8000 && pair.accessToken.length <= 8192, `a token of ${pair.accessToken.length} characters`)
    assert.equal((await eddsa.verify(pair.accessToken)).sub, subject)
    assert.equal((await eddsa.verify((await eddsa.refresh(pair.refreshToken)).accessToken)).sub, subject)
  } finally {
    await eddsa.close()
  }
})
