import assert from "node:assert/strict"
import { afterEach, beforeEach, describe, test } from "node:test"
import { AuthError, createAuth, type Auth, type AuthOptions, type Revocation } from "../../src/index.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import { manualClock, type ManualClock } from "../helpers/clock.ts"
import { flakyStore } from "../helpers/flaky.ts"

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0)
const opened: Auth[] = []
/** One time for each test's instances and their stores. */
let clock: ManualClock

function makeAuth(overrides: Partial<AuthOptions> = {}): Auth {
  const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store: memoryStore({ clock }), leeway: 0, clock, ...overrides })
  opened.push(auth)
  return auth
}

beforeEach(() => {
  clock = manualClock(NOW)
})
afterEach(async () => {
  for (const auth of opened.splice(0)) await auth.close()
})

describe("revoking", () => {
  test("a revoked access token is refused while its session's other tokens still verify", async () => {
    const auth = makeAuth()
    const pair = await auth.issue("alice")
    const next = await auth.refresh(pair.refreshToken)
    await auth.revoke(pair.accessToken, { reason: "leaked", actor: "ops" })
    await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })
    assert.equal((await auth.verify(next.accessToken)).sub, "alice")
  })

  test("revoking a refresh token revokes the access tokens of its session", async () => {
    const auth = makeAuth()
    const pair = await auth.issue("alice")
    const other = await auth.issue("alice")
    const revocation = await auth.revoke(pair.refreshToken)
    assert.equal(revocation?.kind, "session")
    assert.equal(revocation?.id, pair.sessionId)
    await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })
    await assert.rejects(auth.refresh(pair.refreshToken), { code: "token_revoked" })
    assert.equal((await auth.verify(other.accessToken)).sid, other.sessionId)
  })

  test("a token, a session and a subject revoked on one instance are refused at once on another of the same store", async () => {
    const store = memoryStore({ clock })
    const one = makeAuth({ store })
    const two = makeAuth({ store })
    const token = await two.issue("alice")
    const session = await two.issue("bob")
    const subject = [await two.issue("carol"), await two.issue("carol")]
    await one.revoke(token.accessToken)
    await one.revoke(session.refreshToken)
    await one.revokeSubject("carol")
    await assert.rejects(two.verify(token.accessToken), { code: "token_revoked" })
    await assert.rejects(two.verify(session.accessToken), { code: "token_revoked" })
    await assert.rejects(two.refresh(session.refreshToken), { code: "token_revoked" })
    for (const pair of subject) await assert.rejects(two.verify(pair.accessToken), { code: "token_revoked" })
    assert.equal((await two.verify((await two.refresh(token.refreshToken)).accessToken)).sub, "alice", "only the access token was revoked")
  })

  test("revoking twice succeeds and keeps the first record", async () => {
    const auth = makeAuth()
    const pair = await auth.issue("alice")
    const first = await auth.revoke(pair.accessToken, { reason: "first" })
    const second = await auth.revoke(pair.accessToken, { reason: "second" })
    assert.equal(second?.reason, "first")
    assert.equal(second?.createdAt, first?.createdAt)
    assert.equal((await auth.listRevocations()).items.length, 1)
  })

  test("revoking a refresh token twice, or a session or a key twice, succeeds and keeps the first record", async () => {
    const auth = makeAuth()
    const pair = await auth.issue("alice")
    const first = await auth.revoke(pair.refreshToken, { reason: "first" })
    clock.tick(1000)
    // Replicas keep it for the later of the two calls' access-token windows: the rest of the record is the first.
    const later = (revocation: Revocation | null) => ({ ...first, replicaUntil: revocation?.replicaUntil })
    const second = await auth.revoke(pair.refreshToken, { reason: "second" })
    assert.deepEqual(second, later(second))
    assert.equal(second?.replicaUntil, (first?.replicaUntil ?? 0) + 1000)
    assert.deepEqual(await auth.revokeSession(pair.sessionId, { reason: "third" }), later(second))
    const other = await auth.issue("alice")
    const kid = JSON.parse(Buffer.from(other.accessToken.split(".")[0] as string, "base64url").toString()).kid as string
    await auth.rotateKey({ now: true })
    const retired = await auth.retireKey(kid)
    clock.tick(1000)
    assert.deepEqual(await auth.retireKey(kid), retired)
    await assert.rejects(auth.verify(other.accessToken), { code: "token_revoked" })
    assert.equal((await auth.listRevocations()).items.length, 2)
  })

  test("revoking an expired, foreign or garbage token succeeds and revokes nothing", async () => {
    const auth = makeAuth()
    const foreign = makeAuth({ issuer: "https://elsewhere.test" })
    const pair = await auth.issue("alice")
    const theirs = await foreign.issue("alice")
    assert.equal(await auth.revoke("not.a.token"), null)
    assert.equal(await auth.revoke(""), null)
    assert.equal(await auth.revoke(theirs.accessToken), null)
    clock.tick(15 * 60_000)
    assert.equal(await auth.revoke(pair.accessToken), null)
    assert.deepEqual((await auth.listRevocations()).items, [])
  })

  test("a revoked token stays refused until its exp plus leeway, then it is simply expired", async () => {
    const auth = makeAuth({ leeway: "30s" })
    const pair = await auth.issue("alice")
    const revocation = await auth.revoke(pair.accessToken)
    const { exp } = JSON.parse(Buffer.from(pair.accessToken.split(".")[1] as string, "base64url").toString()) as { exp: number }
    assert.equal(revocation?.expiresAt, exp * 1000 + 60_000, "kept a leeway longer, for instances whose clocks lag")
    clock.tick(exp * 1000 + 30_000 - NOW - 1)
    await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })
    clock.tick(1)
    await assert.rejects(auth.verify(pair.accessToken), { code: "token_expired" })
  })

  test("unrevoke brings a revoked token back", async () => {
    const auth = makeAuth()
    const pair = await auth.issue("alice")
    await auth.revoke(pair.accessToken)
    const { jti } = await (async () => {
      const [item] = (await auth.listRevocations({ kind: "token" })).items
      return { jti: item?.id as string }
    })()
    assert.equal(await auth.unrevoke("token", jti), true)
    assert.equal((await auth.verify(pair.accessToken)).jti, jti)
    assert.equal(await auth.unrevoke("token", jti), false)
  })

  test("unrevoke refuses a key revocation with invalid_request: a retired key stays retired, nothing changes", async () => {
    const store = memoryStore({ clock })
    const auth = makeAuth({ store })
    const before = await auth.issue("alice")
    const oldKid = JSON.parse(Buffer.from(before.accessToken.split(".")[0] as string, "base64url").toString()).kid as string
    clock.tick(1000)
    const { kid } = await auth.rotateKey({ now: true })
    const retired = await auth.retireKey(oldKid)
    for (const target of [oldKid, kid]) {
      await assert.rejects(auth.unrevoke("key", target), (error: unknown) => {
        assert.ok(error instanceof AuthError)
        assert.equal(error.code, "invalid_request")
        assert.match(error.message, /retired key cannot be restored.*rotate a new key/)
        return true
      })
    }
    await assert.rejects(auth.verify(before.accessToken), { code: "token_revoked" })
    assert.deepEqual((await auth.listRevocations({ kind: "key" })).items, [retired])
    assert.deepEqual((await store.listKeys()).map((key) => [key.kid, key.retiredAt]).sort(), [[kid, null], [oldKid, retired.createdAt]].sort())
    assert.deepEqual(auth.jwks().keys.map((key) => key.kid), [kid])
  })

  test("revocations carry reason, actor and times, and page with a cursor filtered by subject and kind", async () => {
    const auth = makeAuth()
    for (const subject of ["alice", "bob", "alice"]) {
      const pair = await auth.issue(subject)
      await auth.revoke(pair.accessToken, { reason: `r-${subject}`, actor: "ops" })
      clock.tick(1)
    }
    await auth.revokeSubject("carol", { reason: "incident", actor: "ops" })
    const first = await auth.listRevocations({ subject: "alice", limit: 1 })
    assert.equal(first.items[0]?.reason, "r-alice")
    assert.equal(first.items[0]?.actor, "ops")
    assert.equal(first.items[0]?.createdAt, NOW + 2)
    const second = await auth.listRevocations({ subject: "alice", limit: 1, cursor: first.next })
    assert.equal(second.items[0]?.createdAt, NOW)
    assert.equal(second.next, null)
    assert.deepEqual((await auth.listRevocations({ kind: "subject" })).items.map((item) => item.id), ["carol"])
    await assert.rejects(auth.listRevocations({ kind: "everything" as "token" }), { code: "invalid_request" })
    await assert.rejects(auth.listRevocations({ limit: 0 }), { code: "invalid_request" })
    await assert.rejects(auth.listRevocations({ cursor: "!!" }), { code: "invalid_request" })
  })

  test("revokeToken revokes by jti alone, for as long as any token can live", async () => {
    const auth = makeAuth({ accessTtl: "15m", refreshTtl: "1d", leeway: "30s" })
    const pair = await auth.issue("alice")
    const { jti } = await auth.verify(pair.accessToken)
    const revocation = await auth.revokeToken(jti, { subject: "alice", reason: "pasted by an admin", actor: "ops" })
    assert.equal(revocation.expiresAt, NOW + 86_400_000 + 60_000)
    assert.equal(revocation.subject, "alice")
    await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })
    await assert.rejects(auth.revokeToken(""), { code: "invalid_request" })
  })

  test("every revocation is announced with the revoked event", async () => {
    const auth = makeAuth()
    const seen: Revocation[] = []
    auth.on("revoked", (revocation) => seen.push(revocation))
    const pair = await auth.issue("alice")
    await auth.logout(pair.accessToken)
    assert.deepEqual(seen.map((item) => [item.kind, item.id, item.reason]), [["session", pair.sessionId, "logout"]])
  })

  test("a throwing event listener does not break revocation", async () => {
    const auth = makeAuth()
    auth.on("revoked", () => {
      throw new Error("listener bug")
    })
    const warned = new Promise((resolve) => process.once("warning", resolve))
    const pair = await auth.issue("alice")
    await auth.revoke(pair.accessToken)
    await warned
    await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })
  })
})

describe("revoking a subject", () => {
  test("log out everywhere, then log in again in the same millisecond: old tokens refused, new ones accepted", async () => {
    const auth = makeAuth()
    const phone = await auth.issue("alice")
    const laptop = await auth.issue("alice")
    const bob = await auth.issue("bob")
    await auth.logout(laptop.accessToken, { everywhere: true })
    const again = await auth.issue("alice")
    for (const token of [phone.accessToken, laptop.accessToken]) {
      await assert.rejects(auth.verify(token), { code: "token_revoked" })
    }
    await assert.rejects(auth.refresh(phone.refreshToken), { code: "token_revoked" })
    assert.equal((await auth.verify(again.accessToken)).sub, "alice")
    assert.equal((await auth.verify(bob.accessToken)).sub, "bob")
    const refreshed = await auth.refresh(again.refreshToken)
    assert.equal((await auth.verify(refreshed.accessToken)).sid, again.sessionId)
  })

  test("revoking the subject again also cuts off sessions created since the first time", async () => {
    const auth = makeAuth()
    await auth.revokeSubject("alice")
    const between = await auth.issue("alice")
    await auth.revokeSubject("alice")
    await assert.rejects(auth.verify(between.accessToken), { code: "token_revoked" })
  })

  test("unrevoking a subject restores its earlier tokens", async () => {
    const auth = makeAuth()
    const pair = await auth.issue("alice")
    await auth.revokeSubject("alice")
    await auth.unrevoke("subject", "alice")
    assert.equal((await auth.verify(pair.accessToken)).sub, "alice")
  })
})

describe("refresh rotation", () => {
  test("refresh() returns a new pair on the same session and spends the old refresh token", async () => {
    const auth = makeAuth()
    const pair = await auth.issue("alice", { claims: { role: "admin" }, device: "phone" })
    clock.tick(1000)
    const next = await auth.refresh(pair.refreshToken)
    assert.equal(next.sessionId, pair.sessionId)
    assert.notEqual(next.refreshToken, pair.refreshToken)
    const claims = await auth.verify(next.accessToken)
    assert.equal(claims.role, "admin")
    assert.equal(claims.sid, pair.sessionId)
    const [session] = await auth.listSessions("alice")
    assert.equal(session?.lastUsedAt, NOW + 1000)
    assert.equal(session?.device, "phone")
  })

  test("refresh() rejects a replayed token and revokes its session", async () => {
    const auth = makeAuth()
    const reuse: unknown[] = []
    auth.on("reuse-detected", (event) => reuse.push(event))
    const pair = await auth.issue("alice")
    const next = await auth.refresh(pair.refreshToken)
    await assert.rejects(auth.refresh(pair.refreshToken), { code: "refresh_token_reused" })
    assert.deepEqual(reuse, [{ sessionId: pair.sessionId, subject: "alice" }])
    await assert.rejects(auth.verify(next.accessToken), { code: "token_revoked" })
    await assert.rejects(auth.refresh(next.refreshToken), { code: "token_revoked" })
  })

  test("inside the grace window the immediate predecessor is tolerated, an older one is not", async () => {
    const auth = makeAuth({ reuseGrace: "10s" })
    const first = await auth.issue("alice")
    const second = await auth.refresh(first.refreshToken)
    await auth.refresh(second.refreshToken)
    clock.tick(5000)
    const retried = await auth.refresh(second.refreshToken)
    assert.equal((await auth.verify(retried.accessToken)).sid, first.sessionId)
    await assert.rejects(auth.refresh(first.refreshToken), { code: "refresh_token_reused" })
  })

  test("the predecessor is a reuse once the grace window is over", async () => {
    const auth = makeAuth({ reuseGrace: "10s" })
    const first = await auth.issue("alice")
    await auth.refresh(first.refreshToken)
    clock.tick(10_000)
    await assert.rejects(auth.refresh(first.refreshToken), { code: "refresh_token_reused" })
  })

  test("ten parallel refreshes with one refresh token: exactly one succeeds, twenty rounds", async () => {
    const auth = makeAuth()
    for (let round = 0; round < 20; round++) {
      const pair = await auth.issue("alice")
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => auth.refresh(pair.refreshToken)))
      assert.equal(results.filter((result) => result.status === "fulfilled").length, 1, `round ${round}`)
      for (const result of results) {
        if (result.status === "rejected") assert.match((result.reason as { code: string }).code, /^(refresh_token_reused|token_revoked)$/)
      }
    }
  })

  test("refresh is refused after the session's absolute expiry", async () => {
    const auth = makeAuth({ sessionTtl: "1h", refreshTtl: "30d", accessTtl: "15m" })
    let pair = await auth.issue("alice")
    for (let i = 0; i < 3; i++) {
      clock.tick(15 * 60_000)
      pair = await auth.refresh(pair.refreshToken)
    }
    const { exp } = JSON.parse(Buffer.from(pair.refreshToken.split(".")[1] as string, "base64url").toString()) as { exp: number }
    assert.equal(exp * 1000, NOW + 3_600_000, "refresh tokens never outlive their session")
    clock.tick(15 * 60_000)
    await assert.rejects(auth.refresh(pair.refreshToken), { code: "token_expired" })
  })

  test("refresh is refused after the session's idle expiry", async () => {
    const auth = makeAuth({ idleTimeout: "1h" })
    const pair = await auth.issue("alice")
    clock.tick(3_600_000)
    await assert.rejects(auth.refresh(pair.refreshToken), { code: "token_expired" })
    assert.deepEqual(await auth.listSessions("alice"), [])
  })

  test("refresh is refused once the subject is revoked (a suspended user)", async () => {
    const auth = makeAuth()
    const pair = await auth.issue("alice")
    await auth.revokeSubject("alice", { reason: "suspended" })
    await assert.rejects(auth.refresh(pair.refreshToken), { code: "token_revoked" })
  })

  test("the store keeps only hashes of refresh tokens", async () => {
    const store = memoryStore({ clock })
    const auth = makeAuth({ store })
    const pair = await auth.issue("alice")
    const dump = JSON.stringify([await store.getSession(pair.sessionId), await store.snapshot(NOW)])
    const refreshJti = (JSON.parse(Buffer.from(pair.refreshToken.split(".")[1] as string, "base64url").toString()) as { jti: string }).jti
    assert.equal(dump.includes(refreshJti), false)
    assert.equal(dump.includes(pair.refreshToken), false)
  })
})

describe("sessions", () => {
  test("listSessions shows each login with its device, newest first", async () => {
    const auth = makeAuth()
    const phone = await auth.issue("alice", { device: "phone" })
    clock.tick(1)
    const laptop = await auth.issue("alice", { device: "laptop" })
    await auth.issue("bob")
    const sessions = await auth.listSessions("alice")
    assert.deepEqual(sessions.map((session) => [session.sid, session.device]), [[laptop.sessionId, "laptop"], [phone.sessionId, "phone"]])
    await auth.revokeSession(phone.sessionId)
    assert.deepEqual((await auth.listSessions("alice")).map((session) => session.sid), [laptop.sessionId])
  })

  test("maxSessions with reject refuses a login past the limit", async () => {
    const auth = makeAuth({ maxSessions: { limit: 2, onExceed: "reject" } })
    await auth.issue("alice")
    await auth.issue("alice")
    await assert.rejects(auth.issue("alice"), { code: "session_limit_reached" })
    await auth.issue("bob")
  })

  test("maxSessions with evict-oldest revokes the oldest session's tokens", async () => {
    const auth = makeAuth({ maxSessions: { limit: 2, onExceed: "evict-oldest" } })
    const oldest = await auth.issue("alice")
    clock.tick(1)
    const middle = await auth.issue("alice")
    clock.tick(1)
    const newest = await auth.issue("alice")
    await assert.rejects(auth.verify(oldest.accessToken), { code: "token_revoked" })
    await assert.rejects(auth.refresh(oldest.refreshToken), { code: "token_revoked" })
    assert.equal((await auth.verify(middle.accessToken)).sid, middle.sessionId)
    assert.equal((await auth.verify(newest.accessToken)).sid, newest.sessionId)
  })

  test("revokeSubject leaves none of the subject's sessions listed", async () => {
    const auth = makeAuth()
    await auth.issue("alice")
    await auth.issue("alice")
    const bob = await auth.issue("bob")
    await auth.revokeSubject("alice")
    assert.deepEqual(await auth.listSessions("alice"), [])
    assert.deepEqual((await auth.listSessions("bob")).map((session) => session.sid), [bob.sessionId])
  })

  test("maxSessions with reject lets a user who logged out everywhere log in again", async () => {
    const auth = makeAuth({ maxSessions: { limit: 1, onExceed: "reject" } })
    const pair = await auth.issue("alice")
    await assert.rejects(auth.issue("alice"), { code: "session_limit_reached" })
    await auth.logout(pair.accessToken, { everywhere: true })
    const again = await auth.issue("alice")
    assert.equal((await auth.verify(again.accessToken)).sid, again.sessionId)
    assert.deepEqual((await auth.listSessions("alice")).map((session) => session.sid), [again.sessionId])
    await assert.rejects(auth.issue("alice"), { code: "session_limit_reached" })
  })

  test("issue() refuses reserved claim names and bad subjects", async () => {
    const auth = makeAuth()
    await assert.rejects(auth.issue("alice", { claims: { sub: "mallory" } }), { code: "invalid_request" })
    await assert.rejects(auth.issue("alice", { claims: { exp: 1 } }), { code: "invalid_request" })
    await assert.rejects(auth.issue(""), { code: "invalid_request" })
    await assert.rejects(auth.issue(42 as unknown as string), { code: "invalid_request" })
    await assert.rejects(auth.issue("x".repeat(2000)), { code: "invalid_request" })
  })

  test("ids, reasons, actors and devices with NUL or an unpaired surrogate are invalid_request, and nothing is stored", async () => {
    const auth = makeAuth()
    const pair = await auth.issue("alice")
    const refused = { code: "invalid_request", message: /must not contain NUL \(U\+0000\) or an unpaired surrogate/ }
    for (const bad of ["a\u0000b", "\u0000", "a\ud800", "\udc00b", "\ud83d"]) {
      const label = JSON.stringify(bad)
      await assert.rejects(auth.revokeSubject(bad), refused, label)
      await assert.rejects(auth.revokeSession(bad), refused, label)
      await assert.rejects(auth.revokeToken(bad), refused, label)
      await assert.rejects(auth.revokeToken("some-jti", { subject: bad }), refused, label)
      await assert.rejects(auth.unrevoke("token", bad), refused, label)
      await assert.rejects(auth.listSessions(bad), refused, label)
      await assert.rejects(auth.listRevocations({ subject: bad }), refused, label)
      await assert.rejects(auth.issue(bad), refused, label)
      await assert.rejects(auth.issue("alice", { device: bad }), refused, label)
      for (const meta of [{ reason: bad }, { actor: bad }]) {
        await assert.rejects(auth.revokeSubject("bob", meta), refused, label)
        await assert.rejects(auth.revokeSession(pair.sessionId, meta), refused, label)
        await assert.rejects(auth.revokeToken("some-jti", meta), refused, label)
        await assert.rejects(auth.revoke(pair.accessToken, meta), refused, label)
      }
    }
    assert.deepEqual((await auth.listRevocations()).items, [])
    assert.equal((await auth.verify(pair.accessToken)).sub, "alice")
    // Well-formed text outside ASCII, a surrogate pair included, is kept as given.
    const revocation = await auth.revokeSubject("bob 😀 é", { reason: "naïve ☃", actor: "ops 😀" })
    assert.deepEqual([revocation.id, revocation.reason, revocation.actor], ["bob 😀 é", "naïve ☃", "ops 😀"])
  })
})

describe("when the store is unreachable", () => {
  test("verify answers from a fresh replica, then fails closed once it is stale", async () => {
    const store = flakyStore(1000, clock)
    const auth = makeAuth({ store, maxStaleness: "5s" })
    const pair = await auth.issue("alice")
    const revoked = await auth.issue("alice")
    await auth.revoke(revoked.accessToken)
    const events: unknown[] = []
    auth.on("store-unavailable", (event) => events.push(event))
    store.down = true
    assert.equal((await auth.verify(pair.accessToken)).sub, "alice")
    await assert.rejects(auth.verify(revoked.accessToken), { code: "token_revoked" })
    clock.tick(5001)
    await assert.rejects(auth.verify(pair.accessToken), { code: "store_unavailable" })
    assert.equal(events.length, 1)
    store.down = false
    assert.equal((await auth.verify(pair.accessToken)).sub, "alice")
    await assert.rejects(auth.verify(revoked.accessToken), { code: "token_revoked" })
    store.heartbeat()
    store.down = true
    assert.equal((await auth.verify(pair.accessToken)).sub, "alice", "a heartbeat makes the replica fresh again")
  })

  test("with fail-open a stale replica still answers, and says so with an event", async () => {
    const store = flakyStore(1000, clock)
    const auth = makeAuth({ store, maxStaleness: "5s", onStoreUnavailable: "fail-open" })
    const pair = await auth.issue("alice")
    const revoked = await auth.issue("alice")
    await auth.revoke(revoked.accessToken)
    const events: Array<{ failOpen: boolean }> = []
    auth.on("store-unavailable", (event) => events.push(event))
    store.down = true
    clock.tick(60_000)
    assert.equal((await auth.verify(pair.accessToken)).sub, "alice")
    await assert.rejects(auth.verify(revoked.accessToken), { code: "token_revoked" })
    assert.deepEqual(events.map((event) => event.failOpen), [true, true])
  })

  test("revoke, refresh, issue and logout report store_unavailable, never a false success", async () => {
    const store = flakyStore(1000, clock)
    const auth = makeAuth({ store })
    const pair = await auth.issue("alice")
    store.down = true
    await assert.rejects(auth.revoke(pair.accessToken), { code: "store_unavailable" })
    await assert.rejects(auth.revokeSubject("alice"), { code: "store_unavailable" })
    await assert.rejects(auth.refresh(pair.refreshToken), { code: "store_unavailable" })
    await assert.rejects(auth.issue("alice"), { code: "store_unavailable" })
    await assert.rejects(auth.logout(pair.accessToken), { code: "store_unavailable" })
    store.down = false
    assert.equal((await auth.verify(pair.accessToken)).sub, "alice", "nothing was revoked by the failed calls")
  })

  test("ready() reports an unreachable store as store_unavailable and can be retried", async () => {
    const store = flakyStore(1000, clock)
    store.down = true
    const auth = makeAuth({ store })
    await assert.rejects(auth.ready(), { code: "store_unavailable" })
    store.down = false
    await auth.ready()
    const pair = await auth.issue("alice")
    assert.equal((await auth.verify(pair.accessToken)).sub, "alice")
  })
})
