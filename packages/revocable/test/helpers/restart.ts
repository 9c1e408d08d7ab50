// After a store restart: what an earlier process revoked is still refused, by grain, until exp + leeway.
import assert from "node:assert/strict"
import { mock } from "node:test"
import type { Auth, TokenPair } from "../../src/index.ts"

/** Tokens of one run: alice's access token revoked, bob's session logged out, carol's subject revoked, dave untouched. */
export interface Revoked {
  token: TokenPair
  session: TokenPair
  subject: TokenPair[]
  kept: TokenPair
}

/**
 * Checks every grain on a new instance, then moves a mocked clock to the default leeway's edge (30 s past the
 * revoked token's exp): still token_revoked 1 ms before, token_expired at it. Leaves the mock on: reset it.
 */
export async function assertStillRevoked(reader: Auth, { token, session, subject, kept }: Revoked): Promise<void> {
  mock.timers.enable({ apis: ["Date"], now: Date.now() })
  await assert.rejects(reader.verify(token.accessToken), { code: "token_revoked" })
  await assert.rejects(reader.verify(session.accessToken), { code: "token_revoked" })
  await assert.rejects(reader.refresh(session.refreshToken), { code: "token_revoked" })
  for (const pair of subject) {
    await assert.rejects(reader.verify(pair.accessToken), { code: "token_revoked" })
    await assert.rejects(reader.refresh(pair.refreshToken), { code: "token_revoked" })
  }
  assert.equal((await reader.verify(kept.accessToken)).sub, "dave")
  assert.equal((await reader.verify(token.refreshToken, { type: "refresh" })).sub, "alice", "only the access token was revoked")
  const { exp } = JSON.parse(Buffer.from(token.accessToken.split(".")[1] as string, "base64url").toString()) as { exp: number }
  mock.timers.tick(exp * 1000 + 30_000 - 1 - Date.now())
  await assert.rejects(reader.verify(token.accessToken), { code: "token_revoked" })
  mock.timers.tick(1)
  await assert.rejects(reader.verify(token.accessToken), { code: "token_expired" })
}
