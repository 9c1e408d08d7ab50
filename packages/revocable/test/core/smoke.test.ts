import assert from "node:assert/strict"
import { test } from "node:test"
import { createAuth } from "../../src/index.ts"
import { memoryStore } from "../../src/stores/memory.ts"

test("a session's tokens are refused once it is logged out", async () => {
  const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store: memoryStore() })
  const pair = await auth.issue("alice")
  assert.equal((await auth.verify(pair.accessToken)).sub, "alice")
  await auth.logout(pair.accessToken)
  await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })
  await assert.rejects(auth.refresh(pair.refreshToken), { code: "token_revoked" })
  await auth.close()
})
