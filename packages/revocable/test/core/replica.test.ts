// The replica every verify reads: each revocation refuses the tokens it matches, through every purge, for as long
// as such a token can be valid; a loaded snapshot replaces whatever the replica held.
import assert from "node:assert/strict"
import { generateKeyPairSync } from "node:crypto"
import { afterEach, describe, mock, test } from "node:test"
import { createAuth, type Auth, type AuthOptions } from "../../src/index.ts"
import { Replica } from "../../src/core/replica.ts"
import type { Revocation, RevocationKind, Store } from "../../src/core/store.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import { decode, split } from "../helpers/forge.ts"

const T = Date.UTC(2026, 0, 15, 12, 0, 0)
const MINUTE = 60_000
const HOUR = 60 * MINUTE

function revocation(kind: RevocationKind, id: string, expiresAt: number, cutoff = 0): Revocation {
  return { kind, id, subject: kind === "subject" ? id : null, reason: null, actor: null, createdAt: T, expiresAt, cutoff }
}

interface TokenClaims {
  jti?: string
  sid?: string
  sub?: string
  gen?: number
  kid?: string
}

/** Whether the replica refuses a token with these claims (by default one that nothing in these tests revokes). */
function refuses(replica: Replica, { jti = "jti-0", sid = "sid-0", sub = "sub-0", gen = 0, kid = "kid-0" }: TokenClaims = {}): boolean {
  return replica.isRevoked(jti, sid, sub, gen, kid)
}

describe("Replica", () => {
  test("each kind of revocation refuses only the tokens that carry its id in its own claim", () => {
    const claimOf = { token: "jti", session: "sid", subject: "sub", key: "kid" } as const
    for (const kind of ["token", "session", "subject", "key"] as const) {
      const replica = new Replica()
      replica.add(revocation(kind, "x", T + HOUR, 1))
      for (const claim of ["jti", "sid", "sub", "kid"] as const) {
        assert.equal(refuses(replica, { [claim]: "x" }), claim === claimOf[kind], `${kind} x, token with ${claim} x`)
      }
      assert.equal(refuses(replica), false, `${kind} x, a token without x`)
      assert.equal(replica.isKeyRetired("x"), kind === "key")
      assert.equal(replica.size, 1)
    }
  })

  test("a subject cut-off refuses the sessions begun before it (a lower gen), not those begun since", () => {
    const replica = new Replica()
    replica.add(revocation("subject", "alice", T + HOUR, 2))
    assert.equal(refuses(replica, { sub: "alice", gen: 0 }), true)
    assert.equal(refuses(replica, { sub: "alice", gen: 1 }), true)
    assert.equal(refuses(replica, { sub: "alice", gen: 2 }), false)
    assert.equal(refuses(replica, { sub: "alice", gen: 3 }), false)
    assert.equal(refuses(replica, { sub: "bob", gen: 0 }), false)
    // Revoking the subject again moves the cut-off.
    replica.add(revocation("subject", "alice", T + HOUR, 3))
    assert.equal(refuses(replica, { sub: "alice", gen: 2 }), true)
    assert.equal(replica.size, 1)
  })

  test("every kind is still enforced by each purge before its expiry and forgotten by the first at or after it", () => {
    const replica = new Replica()
    const expiries: Record<RevocationKind, number> = { token: T + 15 * MINUTE, session: T + HOUR, subject: T + 2 * HOUR, key: T + 3 * HOUR }
    for (const [kind, expiresAt] of Object.entries(expiries)) replica.add(revocation(kind as RevocationKind, "x", expiresAt, 1))
    const enforced = () => ({
      token: refuses(replica, { jti: "x" }),
      session: refuses(replica, { sid: "x" }),
      subject: refuses(replica, { sub: "x" }),
      key: refuses(replica, { kid: "x" }) && replica.isKeyRetired("x"),
    })
    // A purge every 10 minutes, and one a millisecond before and one at each expiry.
    const purges = [...Array.from({ length: 19 }, (_, i) => T + i * 10 * MINUTE), ...Object.values(expiries).flatMap((at) => [at - 1, at])]
    for (const now of purges.sort((a, b) => a - b)) {
      replica.prune(now)
      const live = Object.entries(expiries).filter(([, expiresAt]) => expiresAt > now).map(([kind]) => kind)
      assert.deepEqual(enforced(), { token: live.includes("token"), session: live.includes("session"), subject: live.includes("subject"), key: live.includes("key") }, `after a purge at T + ${now - T} ms`)
      assert.equal(replica.size, live.length)
    }
  })

  test("each kind leaves at its replicaUntil when it has one, at its expiry when not", () => {
    for (const kind of ["token", "session", "subject", "key"] as const) {
      const claim = { token: "jti", session: "sid", subject: "sub", key: "kid" }[kind]
      const early = new Replica()
      early.add({ ...revocation(kind, "x", T + HOUR, 1), replicaUntil: T + 20 * MINUTE })
      early.prune(T + 20 * MINUTE - 1)
      assert.equal(refuses(early, { [claim]: "x" }), true, `${kind}: before its replicaUntil`)
      early.prune(T + 20 * MINUTE)
      assert.equal(refuses(early, { [claim]: "x" }), false, `${kind}: at its replicaUntil, an hour before its expiry`)
      const full = new Replica()
      full.add(revocation(kind, "x", T + HOUR, 1))
      full.prune(T + HOUR - 1)
      assert.equal(refuses(full, { [claim]: "x" }), true, `${kind}: without a replicaUntil, until its expiry`)
      full.prune(T + HOUR)
      assert.equal(full.size, 0)
    }
  })

  test("clear() then addAll() replaces everything it held with the snapshot", () => {
    const replica = new Replica()
    for (const kind of ["token", "session", "subject", "key"] as const) replica.add(revocation(kind, "before", T + HOUR, 1))
    replica.clear()
    replica.addAll([revocation("token", "j1", T + HOUR), revocation("session", "s1", T + HOUR), revocation("subject", "alice", T + HOUR, 1), revocation("key", "k1", T + HOUR)])
    for (const claim of ["jti", "sid", "sub", "kid"] as const) assert.equal(refuses(replica, { [claim]: "before" }), false, `${claim} before`)
    assert.equal(refuses(replica, { jti: "j1" }), true)
    assert.equal(refuses(replica, { sid: "s1" }), true)
    assert.equal(refuses(replica, { sub: "alice" }), true)
    assert.equal(refuses(replica, { kid: "k1" }), true)
    assert.equal(replica.size, 4)
    replica.clear()
    replica.addAll([])
    assert.equal(replica.size, 0)
    assert.equal(refuses(replica, { jti: "j1" }), false)
  })

  test("a snapshot read in pages into a replica beside the one in use replaces it at once, every kind", () => {
    const inUse = new Replica()
    for (const kind of ["token", "session", "subject", "key"] as const) inUse.add(revocation(kind, "before", T + HOUR, 1))
    const next = new Replica()
    next.addAll([revocation("token", "j1", T + HOUR), revocation("session", "s1", T + HOUR)])
    next.addAll([revocation("subject", "alice", T + HOUR, 1), revocation("key", "k1", T + HOUR), revocation("token", "j2", T + HOUR)])
    assert.equal(refuses(inUse, { jti: "before" }), true, "the replica in use is whole until the snapshot is all read")
    assert.equal(refuses(inUse, { jti: "j1" }), false)
    inUse.replaceWith(next)
    for (const claim of ["jti", "sid", "sub", "kid"] as const) assert.equal(refuses(inUse, { [claim]: "before" }), false, `${claim} before`)
    for (const claims of [{ jti: "j1" }, { jti: "j2" }, { sid: "s1" }, { sub: "alice" }, { kid: "k1" }]) assert.equal(refuses(inUse, claims), true, JSON.stringify(claims))
    assert.equal(inUse.size, 5)
  })

  test("delete() lifts one revocation of one kind, and leaves the same id of the other kinds", () => {
    for (const kind of ["token", "session", "subject", "key"] as const) {
      const replica = new Replica()
      for (const each of ["token", "session", "subject", "key"] as const) replica.add(revocation(each, "x", T + HOUR, 1))
      replica.delete(kind, "x")
      const claims = { token: "jti", session: "sid", subject: "sub", key: "kid" } as const
      for (const [other, claim] of Object.entries(claims)) {
        assert.equal(refuses(replica, { [claim]: "x" }), other !== kind, `${kind} deleted, token with ${claim} x`)
      }
      assert.equal(replica.size, 3)
    }
  })
})

describe("the replica behind createAuth", () => {
  const keys: AuthOptions["keys"] = [
    { kid: "k1", alg: "EdDSA", privateKey: generateKeyPairSync("ed25519").privateKey },
    { kid: "k2", alg: "EdDSA", privateKey: generateKeyPairSync("ed25519").privateKey },
  ]
  const opened: Auth[] = []
  afterEach(async () => {
    mock.timers.reset()
    for (const auth of opened.splice(0)) await auth.close()
  })

  function makeAuth(store: Store): Auth {
    const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store, keys, leeway: 0, accessTtl: "5m", refreshTtl: "1h", sessionTtl: "1h", purgeInterval: "10m" })
    opened.push(auth)
    return auth
  }

  async function refused(auth: Auth, token: string, type: "access" | "refresh"): Promise<string | null> {
    try {
      await auth.verify(token, { type })
      return null
    } catch (error) {
      return (error as { code: string }).code
    }
  }

  test("log out everywhere and a retired key stay enforced through every purge until the refresh tokens they cut off expire", async () => {
    mock.timers.enable({ apis: ["Date", "setInterval"], now: T })
    const auth = makeAuth(memoryStore())
    const carol = await auth.issue("carol")
    assert.equal(decode(split(carol.refreshToken)[0]).kid, "k1")
    await auth.retireKey("k1")
    const alice = await auth.issue("alice")
    await auth.revokeSubject("alice")
    const bob = await auth.issue("bob")
    const check = async (when: string) => {
      assert.equal(await refused(auth, alice.refreshToken, "refresh"), "token_revoked", `alice, ${when}`)
      assert.equal(await refused(auth, carol.refreshToken, "refresh"), "token_revoked", `carol (key k1), ${when}`)
      assert.equal(await refused(auth, bob.refreshToken, "refresh"), null, `bob, ${when}`)
    }
    // A purge every 10 minutes; the refresh tokens expire with the sixth, an hour after they were issued.
    for (let minutes = 10; minutes <= 50; minutes += 10) {
      mock.timers.tick(10 * MINUTE)
      await check(`after the purge at ${minutes} min`)
    }
    mock.timers.tick(10 * MINUTE - 1)
    await check("1 ms before the refresh tokens expire")
    mock.timers.tick(1)
    for (const token of [alice.refreshToken, carol.refreshToken, bob.refreshToken]) assert.equal(await refused(auth, token, "refresh"), "token_expired")
  })

  test("an instance started after the revocations refuses what the snapshot it loads revokes", async () => {
    mock.timers.enable({ apis: ["Date"], now: T })
    const store = memoryStore()
    const first = makeAuth(store)
    const byToken = await first.issue("alice")
    const bySession = await first.issue("alice")
    const byKey = await first.issue("carol")
    const bySubject = await first.issue("dave")
    await first.revoke(byToken.accessToken)
    await first.revoke(bySession.refreshToken)
    await first.revokeSubject("dave")
    await first.retireKey("k1")
    const kept = await first.issue("bob")
    const second = makeAuth(store)
    await second.ready()
    assert.equal(second.replicaStatus().entries, 4)
    assert.equal(await refused(second, byToken.accessToken, "access"), "token_revoked")
    assert.equal(await refused(second, bySession.accessToken, "access"), "token_revoked")
    assert.equal(await refused(second, byKey.accessToken, "access"), "token_revoked")
    assert.equal(await refused(second, bySubject.accessToken, "access"), "token_revoked")
    assert.equal(await refused(second, kept.accessToken, "access"), null)
  })
})
