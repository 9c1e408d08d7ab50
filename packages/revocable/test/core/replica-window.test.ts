// Replicas hold a session or subject revocation only while an access token it matches can be valid; after that
// the store's own records refuse the session's refresh tokens. Token and key revocations keep their expiry.
import assert from "node:assert/strict"
import { generateKeyPairSync } from "node:crypto"
import { afterEach, describe, mock, test } from "node:test"
import { createAuth, type Auth, type AuthOptions } from "../../src/index.ts"
import type { Store } from "../../src/core/store.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import { manualClock, type ManualClock } from "../helpers/clock.ts"

const T = Date.UTC(2026, 0, 15, 12, 0, 0)
const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const ACCESS_TTL = 5 * MINUTE
const LEEWAY = SECOND
/** accessTtl, the leeway a token is accepted past its expiry, the leeway between clocks, and one for the write. */
const WINDOW = ACCESS_TTL + 3 * LEEWAY

const keys: AuthOptions["keys"] = [{ kid: "k1", alg: "EdDSA", privateKey: generateKeyPairSync("ed25519").privateKey }]
const opened: Auth[] = []
afterEach(async () => {
  mock.timers.reset()
  for (const auth of opened.splice(0)) await auth.close()
})

function makeAuth(store: Store, clock: ManualClock, options: Partial<AuthOptions> = {}): Auth {
  const auth = createAuth({
    issuer: "https://issuer.test",
    audience: "api",
    store,
    keys,
    clock,
    leeway: "1s",
    accessTtl: "5m",
    refreshTtl: "1d",
    sessionTtl: "30d",
    purgeInterval: false,
    ...options,
  })
  opened.push(auth)
  return auth
}

async function failure(operation: Promise<unknown>): Promise<string | null> {
  try {
    await operation
    return null
  } catch (error) {
    return (error as { code: string }).code
  }
}

describe("replicas bounded by the access-token lifetime", () => {
  test("a logged-out session leaves replicas once its access tokens expire; its refresh token is refused by the store", async () => {
    const clock = manualClock(T)
    const store = memoryStore({ clock })
    const auth = makeAuth(store, clock)
    const pair = await auth.issue("alice")
    const revocation = await auth.logout(pair.accessToken)
    assert.equal(revocation.replicaUntil, T + WINDOW)
    assert.equal(revocation.expiresAt, T + 30 * 24 * HOUR + 2 * LEEWAY, "the store keeps the record until the session ends")
    clock.tick(ACCESS_TTL + LEEWAY - 1)
    assert.equal(await failure(auth.verify(pair.accessToken)), "token_revoked", "accepted by its exp and leeway, so still refused")

    clock.tick(WINDOW - (ACCESS_TTL + LEEWAY - 1))
    const later = makeAuth(store, clock)
    await later.ready()
    assert.equal(later.replicaStatus().entries, 0, "the snapshot no longer carries it")
    assert.equal(await failure(later.verify(pair.refreshToken, { type: "refresh" })), "token_revoked", "the store answers for refresh tokens")
    assert.equal(await failure(later.refresh(pair.refreshToken)), "token_revoked", "the store's rotation refuses it")
    assert.equal(await failure(auth.refresh(pair.refreshToken)), "token_revoked")
    assert.equal((await later.listRevocations()).items.length, 1, "listed until the store purges it")
    const unknown = await later.revokeSession("never-issued")
    assert.equal(unknown.replicaUntil, clock() + WINDOW, "an unknown session: the access-token window")
  })

  test("log out everywhere: the cut-off leaves replicas after the window, and the store refuses the cut-off sessions' refreshes", async () => {
    const clock = manualClock(T)
    const store = memoryStore({ clock })
    const auth = makeAuth(store, clock)
    const before = await auth.issue("alice")
    const other = await auth.issue("alice")
    const bob = await auth.issue("bob")
    const cut = await auth.logout(before.accessToken, { everywhere: true })
    assert.equal(cut.replicaUntil, T + WINDOW)
    const since = await auth.issue("alice")
    clock.tick(WINDOW)
    const later = makeAuth(store, clock)
    await later.ready()
    assert.equal(later.replicaStatus().entries, 0)
    for (const pair of [before, other]) assert.equal(await failure(later.refresh(pair.refreshToken)), "token_revoked")
    assert.equal(await failure(later.verify(other.refreshToken, { type: "refresh" })), "token_revoked")
    assert.equal(await failure(later.refresh(since.refreshToken)), null, "a session begun after the cut-off")
    assert.equal(await failure(later.refresh(bob.refreshToken)), null, "another subject")
  })

  test("the instance that held the entry lets go of it at its first purge after the window", async () => {
    mock.timers.enable({ apis: ["setInterval"] })
    const clock = manualClock(T)
    const auth = makeAuth(memoryStore({ clock }), clock, { purgeInterval: "1m" })
    const pair = await auth.issue("alice")
    await auth.revokeSession(pair.sessionId)
    await auth.revokeSubject("bob")
    clock.tick(WINDOW - 1)
    mock.timers.tick(MINUTE)
    assert.equal(auth.replicaStatus().entries, 2, "a purge before the window keeps both")
    clock.tick(1)
    mock.timers.tick(MINUTE)
    assert.equal(auth.replicaStatus().entries, 0)
    assert.equal(await failure(auth.refresh(pair.refreshToken)), "token_revoked")
  })

  test("a session that ends sooner leaves replicas with it; token and key revocations keep their expiry", async () => {
    const clock = manualClock(T)
    const auth = makeAuth(memoryStore({ clock }), clock, { sessionTtl: "2m", refreshTtl: "2m" })
    const short = await auth.issue("alice")
    const session = await auth.revokeSession(short.sessionId)
    assert.equal(session.replicaUntil, session.expiresAt)
    assert.equal(session.expiresAt, T + 2 * MINUTE + 2 * LEEWAY)
    const token = await auth.revokeToken("some-jti")
    assert.equal(token.replicaUntil, token.expiresAt)
    const key = await auth.retireKey("k1")
    assert.equal(key.replicaUntil, key.expiresAt)
  })

  test("an access token revoked by itself is held by replicas until it expires", async () => {
    const clock = manualClock(T)
    const auth = makeAuth(memoryStore({ clock }), clock)
    const pair = await auth.issue("alice")
    const revocation = await auth.revoke(pair.accessToken)
    assert.equal(revocation?.replicaUntil, revocation?.expiresAt)
    assert.equal(revocation?.expiresAt, T + ACCESS_TTL + 2 * LEEWAY)
  })

  test("a reused refresh token and an evicted session are recorded with the access-token window", async () => {
    const clock = manualClock(T)
    const auth = makeAuth(memoryStore({ clock }), clock, { maxSessions: { limit: 1, onExceed: "evict-oldest" } })
    const first = await auth.issue("alice")
    clock.tick(MINUTE)
    await auth.issue("alice")
    const [evicted] = (await auth.listRevocations({ kind: "session" })).items
    assert.equal(evicted?.id, first.sessionId)
    assert.equal(evicted?.replicaUntil, T + MINUTE + WINDOW)
    const bob = await auth.issue("bob")
    clock.tick(MINUTE)
    await auth.refresh(bob.refreshToken)
    assert.equal(await failure(auth.refresh(bob.refreshToken)), "refresh_token_reused")
    const reuse = (await auth.listRevocations({ subject: "bob" })).items[0]
    assert.equal(reuse?.replicaUntil, T + 2 * MINUTE + WINDOW)
  })
})
