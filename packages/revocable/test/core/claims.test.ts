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
