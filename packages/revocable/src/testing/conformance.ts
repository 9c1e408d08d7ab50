/**
 * The store contract as tests (`revocable/testing`): a store proves itself by calling storeConformance once from
 * a node:test file. Every built-in store runs it whole; a third-party store does the same.
 *
 * @example
 * import { storeConformance } from "revocable/testing"
 * storeConformance("mine", { create: async ({ clock }) => { const store = myStore({ clock }); await store.open(); return store } })
 */
import assert from "node:assert/strict"
import { after, describe, test } from "node:test"
import type { ChangeEvent, Clock, RevocationInput, SessionInput, Store } from "../core/store.ts"
import type { ServerStore } from "../stores/server-store.ts"
import { auditConformance } from "./audit-conformance.ts"

export interface ConformanceTarget {
  /** A fresh, empty, opened store, isolated from every other test, reading session times from `clock`. */
  create(options: { clock: Clock }): Promise<Store>
  /** A second opened store on the same data as `store` (another instance), for the change feed. */
  peer?(store: Store, options: { clock: Clock }): Promise<Store>
  /**
   * Whether the store also fulfils the server's extension ({@link ServerStore}: documents and rate-limit
   * windows), which is then tested too. Default true; false for a store made only for createAuth.
   */
  server?: boolean
}

const HOUR = 3_600_000
const T0 = 1_800_000_000_000
const FEED_TIMEOUT_MS = 10_000

export function revocation(overrides: Partial<RevocationInput> = {}): RevocationInput {
  return { kind: "token", id: "jti-1", subject: "alice", reason: "test", actor: "tester", createdAt: T0, expiresAt: T0 + HOUR, ...overrides }
}

export function sessionInput(overrides: Partial<SessionInput> = {}): SessionInput {
  return {
    sid: `sid-${Math.random().toString(36).slice(2)}`,
    subject: "alice",
    ttlMs: 24 * HOUR,
    device: "Firefox on Linux",
    claims: { role: "admin", nested: { list: [1, "two"] } },
    refreshHash: "hash-0",
    ...overrides,
  }
}

const evictTemplate = { kind: "session" as const, reason: "evicted", actor: "revocable", createdAt: T0, replicaUntil: T0 + HOUR }

export function createInput(session: SessionInput, limit: number | null = null, onExceed: "evict-oldest" | "reject" = "reject") {
  return { session, idleTimeoutMs: 30 * 24 * HOUR, limit, onExceed, evictTemplate, leewayMs: 1000 }
}

function query(overrides: Partial<{ jti: string; sid: string; subject: string; gen: number; kid: string; now: number }> = {}) {
  return { jti: "other-jti", sid: "other-sid", subject: "other", gen: 0, kid: "other-kid", now: T0, ...overrides }
}

/** Resolves with the first event the predicate accepts; rejects if none arrives in time. */
export function nextEvent(store: Store, predicate: (event: ChangeEvent) => boolean): Promise<ChangeEvent> & { ready: Promise<void> } {
  let resolveReady!: () => void
  const ready = new Promise<void>((resolve) => (resolveReady = resolve))
  const promise = new Promise<ChangeEvent>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("No matching change event arrived.")), FEED_TIMEOUT_MS)
    void store
      .subscribe((event) => {
        if (!predicate(event)) return
        clearTimeout(timer)
        resolve(event)
      })
      .then((subscription) => {
        resolveReady()
        void promise.finally(() => subscription.close())
      }, reject)
  })
  return Object.assign(promise, { ready })
}

export function storeConformance(name: string, target: ConformanceTarget): void {
  describe(`${name} store conformance`, () => {
    const opened: Store[] = []
    /** The store's clock: each test starts at T0 and moves it with `at`. */
    let time = T0
    const clock: Clock = () => time
    const at = (ms: number) => void (time = ms)
    async function fresh(): Promise<Store> {
      time = T0
      const store = await target.create({ clock })
      opened.push(store)
      return store
    }
    after(async () => {
      for (const store of opened.reverse()) await store.close().catch(() => undefined)
    })

    describe("revocations", () => {
      test("a revoked token is in the snapshot and matched by isRevoked", async () => {
        const store = await fresh()
        const stored = await store.revoke(revocation())
        assert.deepEqual(stored, { ...revocation(), cutoff: 0, replicaUntil: T0 + HOUR }, "replicaUntil is expiresAt when not given")
        assert.deepEqual(await store.snapshot(T0), [stored])
        assert.equal(await store.isRevoked(query({ jti: "jti-1" })), true)
        assert.equal(await store.isRevoked(query({ jti: "jti-2" })), false)
      })

      test("the snapshot holds a revocation until its replicaUntil; isRevoked, listings and purge follow its expiry", async () => {
        const store = await fresh()
        const stored = await store.revoke(revocation({ kind: "session", id: "s-1", replicaUntil: T0 + 10 }))
        assert.equal(stored.replicaUntil, T0 + 10)
        assert.deepEqual(await store.snapshot(T0 + 9), [stored])
        assert.deepEqual(await store.snapshot(T0 + 10), [], "replicas let go of it at its replicaUntil")
        assert.equal(await store.isRevoked(query({ sid: "s-1", now: T0 + 10 })), true, "the store still knows it")
        assert.deepEqual((await store.listRevocations({ limit: 10, now: T0 + 10 })).items, [stored])
        await store.purge(T0 + 10)
        assert.equal(await store.isRevoked(query({ sid: "s-1", now: T0 + 10 })), true, "purge keeps it until its expiry")
        await store.purge(T0 + HOUR)
        assert.deepEqual((await store.listRevocations({ limit: 10, now: T0 })).items, [])
      })

      test("revoking again keeps the later replicaUntil, never past the expiry", async () => {
        const store = await fresh()
        assert.equal((await store.revoke(revocation({ replicaUntil: T0 + 20 }))).replicaUntil, T0 + 20)
        assert.equal((await store.revoke(revocation({ replicaUntil: T0 + 10 }))).replicaUntil, T0 + 20, "an earlier one does not shorten it")
        assert.equal((await store.revoke(revocation({ replicaUntil: T0 + 30 }))).replicaUntil, T0 + 30)
        const capped = await store.revoke(revocation({ id: "jti-2", replicaUntil: T0 + 2 * HOUR }))
        assert.equal(capped.replicaUntil, T0 + HOUR, "never after expiresAt")
        const subject = { kind: "subject" as const, id: "alice" }
        await store.revoke(revocation({ ...subject, replicaUntil: T0 + 20 }))
        const again = await store.revoke(revocation({ ...subject, createdAt: T0 + 5, replicaUntil: T0 + 40 }))
        assert.deepEqual([again.cutoff, again.replicaUntil], [2, T0 + 40], "a subject revoked again: the new cut-off, the later replicaUntil")
        assert.deepEqual(
          (await store.snapshot(T0 + 30)).map((row) => `${row.kind}:${row.id}@${row.replicaUntil}`).sort(),
          [`subject:alice@${T0 + 40}`, `token:jti-2@${T0 + HOUR}`],
        )
      })

      test("revoking twice is idempotent: earliest createdAt and reason, latest expiresAt", async () => {
        const store = await fresh()
        await store.revoke(revocation())
        const again = await store.revoke(revocation({ createdAt: T0 + 5, expiresAt: T0 + 2 * HOUR, reason: "second" }))
        assert.equal(again.createdAt, T0)
        assert.equal(again.reason, "test")
        assert.equal(again.expiresAt, T0 + 2 * HOUR)
        assert.equal((await store.snapshot(T0)).length, 1)
      })

      test("revoking a session or a key twice is idempotent too; a session the store never saw can be revoked", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "s-1" })))
        const first = await store.revoke(revocation({ kind: "session", id: "s-1", createdAt: T0 + 10 }))
        const again = await store.revoke(revocation({ kind: "session", id: "s-1", createdAt: T0 + 20, reason: "second", actor: "other" }))
        assert.deepEqual(again, first)
        assert.equal((await store.getSession("s-1"))?.revokedAt, T0 + 10, "the session keeps its first revocation time")
        await store.revoke(revocation({ kind: "key", id: "k-1", subject: null }))
        const key = await store.revoke(revocation({ kind: "key", id: "k-1", subject: null, createdAt: T0 + 5, reason: "second" }))
        assert.equal(key.createdAt, T0)
        assert.equal(key.reason, "test")
        const unknown = await store.revoke(revocation({ kind: "session", id: "never-created" }))
        assert.equal(unknown.id, "never-created")
        assert.equal(await store.getSession("never-created"), null)
        assert.equal(await store.isRevoked(query({ sid: "never-created" })), true)
        assert.deepEqual((await store.snapshot(T0)).map((row) => `${row.kind}:${row.id}`).sort(), ["key:k-1", "session:never-created", "session:s-1"])
      })

      test("each grain matches only what it revokes", async () => {
        const store = await fresh()
        await store.revoke(revocation({ kind: "session", id: "s-1" }))
        await store.revoke(revocation({ kind: "key", id: "k-1", subject: null }))
        assert.equal(await store.isRevoked(query({ sid: "s-1" })), true)
        assert.equal(await store.isRevoked(query({ kid: "k-1" })), true)
        assert.equal(await store.isRevoked(query({ jti: "s-1", subject: "k-1" })), false)
      })

      test("a subject revocation cuts off sessions created before it, not after", async () => {
        const store = await fresh()
        const before = await store.createSession(createInput(sessionInput()))
        assert.ok(before.ok)
        const cut = await store.revoke(revocation({ kind: "subject", id: "alice" }))
        const afterCut = await store.createSession(createInput(sessionInput()))
        assert.ok(afterCut.ok)
        assert.ok(before.session.gen < cut.cutoff)
        assert.ok(afterCut.session.gen >= cut.cutoff)
        assert.equal(await store.isRevoked(query({ subject: "alice", gen: before.session.gen })), true)
        assert.equal(await store.isRevoked(query({ subject: "alice", gen: afterCut.session.gen })), false)
        const second = await store.revoke(revocation({ kind: "subject", id: "alice", createdAt: T0 + 1 }))
        assert.ok(second.cutoff > cut.cutoff, "a second subject revocation moves the cut-off")
        assert.equal(await store.isRevoked(query({ subject: "alice", gen: afterCut.session.gen })), true)
        assert.equal((await store.snapshot(T0)).filter((row) => row.kind === "subject").length, 1)
      })

      test("revoking a session marks it revoked: no longer listed, no longer rotates", async () => {
        const store = await fresh()
        const created = await store.createSession(createInput(sessionInput({ sid: "s-1" })))
        assert.ok(created.ok)
        await store.revoke(revocation({ kind: "session", id: "s-1", createdAt: T0 + 10 }))
        assert.equal((await store.getSession("s-1"))?.revokedAt, T0 + 10)
        at(T0 + 20)
        assert.deepEqual(await store.listSessions("alice", HOUR), [])
        const rotated = await store.rotate(rotateInput("s-1", "hash-0", "hash-1"))
        assert.equal(rotated.status, "revoked")
      })

      test("unrevoke removes the entry and says whether there was one", async () => {
        const store = await fresh()
        await store.revoke(revocation())
        assert.equal(await store.unrevoke("token", "jti-1"), true)
        assert.equal(await store.unrevoke("token", "jti-1"), false)
        assert.deepEqual(await store.snapshot(T0), [])
        assert.equal(await store.isRevoked(query({ jti: "jti-1" })), false)
      })

      test("unrevoking a session lets its refresh token rotate again", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "s-1" })))
        await store.revoke(revocation({ kind: "session", id: "s-1" }))
        assert.equal(await store.unrevoke("session", "s-1"), true)
        assert.equal((await store.getSession("s-1"))?.revokedAt, null)
        at(T0 + 1)
        assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-1"))).status, "rotated")
      })

      test("expired entries are neither live nor matched, and purge deletes them", async () => {
        const store = await fresh()
        await store.revoke(revocation({ id: "short", expiresAt: T0 + 10 }))
        await store.revoke(revocation({ id: "long", expiresAt: T0 + HOUR }))
        assert.deepEqual((await store.snapshot(T0 + 10)).map((row) => row.id), ["long"])
        assert.equal(await store.isRevoked(query({ jti: "short", now: T0 + 10 })), false)
        assert.equal((await store.listRevocations({ limit: 10, now: T0 + 10 })).items.length, 1)
        assert.ok((await store.purge(T0 + 10)) >= 1)
        assert.deepEqual((await store.snapshot(T0)).map((row) => row.id), ["long"])
      })

      test("listRevocations pages newest first with a cursor, filtered by kind and subject", async () => {
        const store = await fresh()
        for (let i = 0; i < 5; i++) await store.revoke(revocation({ id: `t-${i}`, createdAt: T0 + i, subject: i % 2 ? "bob" : "alice" }))
        await store.revoke(revocation({ kind: "session", id: "s-x", createdAt: T0 + 9 }))
        const seen: string[] = []
        let cursor: string | null = null
        do {
          const page = await store.listRevocations({ kind: "token", cursor, limit: 2, now: T0 })
          assert.ok(page.items.length <= 2)
          seen.push(...page.items.map((row) => row.id))
          cursor = page.next
        } while (cursor !== null)
        assert.deepEqual(seen, ["t-4", "t-3", "t-2", "t-1", "t-0"])
        const bobs = await store.listRevocations({ subject: "bob", limit: 10, now: T0 })
        assert.deepEqual(bobs.items.map((row) => row.id), ["t-3", "t-1"])
        assert.equal(bobs.next, null)
      })
    })

    describe("sessions", () => {
      test("a created session reads back with its claims, device and generation", async () => {
        const store = await fresh()
        const input = sessionInput({ sid: "s-1" })
        const created = await store.createSession(createInput(input))
        assert.ok(created.ok)
        assert.deepEqual(created.evicted, [])
        const expected = {
          sid: "s-1",
          subject: "alice",
          gen: 0,
          createdAt: T0,
          lastUsedAt: T0,
          expiresAt: T0 + input.ttlMs,
          device: "Firefox on Linux",
          claims: input.claims,
          revokedAt: null,
        }
        assert.deepEqual(created.session, expected)
        assert.deepEqual(await store.getSession("s-1"), expected)
        assert.equal(await store.getSession("nope"), null)
      })

      test("listSessions returns the subject's live sessions, newest first", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "old" })))
        await store.createSession(createInput(sessionInput({ sid: "ended", ttlMs: 7 })))
        await store.createSession(createInput(sessionInput({ sid: "bobs", subject: "bob" })))
        at(T0 + 5)
        await store.createSession(createInput(sessionInput({ sid: "new" })))
        at(T0 + 7)
        const live = await store.listSessions("alice", HOUR)
        assert.deepEqual(live.map((session) => session.sid), ["new", "old"])
        const notIdle = await store.listSessions("alice", 6)
        assert.deepEqual(notIdle.map((session) => session.sid), ["new"], "old, unused since T0, is idle at T0 + 7 after 6 ms")
      })

      test("the session limit rejects a new session when onExceed is reject", async () => {
        const store = await fresh()
        assert.ok((await store.createSession(createInput(sessionInput(), 2))).ok)
        assert.ok((await store.createSession(createInput(sessionInput(), 2))).ok)
        assert.deepEqual(await store.createSession(createInput(sessionInput({ sid: "third" }), 2)), { ok: false, reason: "limit" })
        assert.equal(await store.getSession("third"), null)
      })

      test("the session limit evicts the oldest session, revoked and published", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "first" }), 2, "evict-oldest"))
        at(T0 + 1)
        await store.createSession(createInput(sessionInput({ sid: "second" }), 2, "evict-oldest"))
        const published = nextEvent(store, (event) => event.type === "revoked" && event.revocation.id === "first")
        await published.ready
        at(T0 + 2)
        const third = await store.createSession(createInput(sessionInput({ sid: "third" }), 2, "evict-oldest"))
        assert.ok(third.ok)
        assert.deepEqual(third.evicted.map((row) => [row.kind, row.id, row.subject]), [["session", "first", "alice"]])
        assert.equal(third.evicted[0]?.expiresAt, T0 + 24 * HOUR + 1000)
        assert.equal(third.evicted[0]?.replicaUntil, T0 + HOUR, "the template's replicaUntil")
        await published
        assert.notEqual((await store.getSession("first"))?.revokedAt, null)
        assert.equal(await store.isRevoked(query({ sid: "first" })), true)
        at(T0 + 3)
        assert.deepEqual((await store.listSessions("alice", HOUR)).map((s) => s.sid), ["third", "second"])
      })

      test("listSessions leaves out sessions cut off by a live subject revocation, and lists them again once unrevoked", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "before-1" })))
        at(T0 + 1)
        await store.createSession(createInput(sessionInput({ sid: "before-2" })))
        await store.createSession(createInput(sessionInput({ sid: "bobs", subject: "bob" })))
        const cut = await store.revoke(revocation({ kind: "subject", id: "alice", createdAt: T0 + 2 }))
        at(T0 + 3)
        await store.createSession(createInput(sessionInput({ sid: "after" })))
        const listed = async (subject: string, now = T0 + 4) => {
          at(now)
          return (await store.listSessions(subject, 24 * HOUR)).map((s) => s.sid)
        }
        assert.deepEqual(await listed("alice"), ["after"])
        assert.deepEqual(await listed("bob"), ["bobs"])
        assert.deepEqual(await listed("alice", cut.expiresAt), ["after", "before-2", "before-1"], "an ended subject revocation cuts off nothing")
        assert.equal(await store.unrevoke("subject", "alice"), true)
        assert.deepEqual(await listed("alice"), ["after", "before-2", "before-1"])
      })

      test("sessions cut off by a subject revocation do not count towards the limit", async () => {
        const store = await fresh()
        assert.ok((await store.createSession(createInput(sessionInput(), 2))).ok)
        at(T0 + 1)
        assert.ok((await store.createSession(createInput(sessionInput(), 2))).ok)
        await store.revoke(revocation({ kind: "subject", id: "alice", createdAt: T0 + 2 }))
        at(T0 + 3)
        const again = await store.createSession(createInput(sessionInput({ sid: "again" }), 2))
        assert.ok(again.ok, "logging in again after a log-out everywhere")
        at(T0 + 4)
        assert.ok((await store.createSession(createInput(sessionInput({ sid: "second" }), 2))).ok)
        at(T0 + 5)
        const third = sessionInput({ sid: "third" })
        assert.deepEqual(await store.createSession(createInput(third, 2)), { ok: false, reason: "limit" })
        assert.equal(await store.getSession("third"), null)
      })

      test("sessions cut off by a subject revocation are not evicted", async () => {
        const store = await fresh()
        const create = (sid: string, createdAt: number) => {
          at(createdAt)
          return store.createSession(createInput(sessionInput({ sid }), 2, "evict-oldest"))
        }
        await create("first", T0)
        await create("second", T0 + 1)
        await store.revoke(revocation({ kind: "subject", id: "alice", createdAt: T0 + 2 }))
        const evictedBy = async (sid: string, createdAt: number) => {
          const created = await create(sid, createdAt)
          assert.ok(created.ok)
          return created.evicted.map((row) => row.id)
        }
        assert.deepEqual(await evictedBy("third", T0 + 3), [])
        assert.deepEqual(await evictedBy("fourth", T0 + 4), [])
        assert.deepEqual(await evictedBy("fifth", T0 + 5), ["third"])
        const sessionRevocations = await store.listRevocations({ kind: "session", limit: 10, now: T0 })
        assert.deepEqual(sessionRevocations.items.map((row) => row.id), ["third"])
        assert.equal((await store.getSession("first"))?.revokedAt, null)
        at(T0 + 6)
        assert.deepEqual((await store.listSessions("alice", HOUR)).map((s) => s.sid), ["fifth", "fourth"])
      })
    })

    describe("rotation", () => {
      test("the current refresh hash rotates; the old one is then a reuse that revokes the session", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "s-1" })))
        at(T0 + 100)
        const rotated = await store.rotate(rotateInput("s-1", "hash-0", "hash-1"))
        assert.equal(rotated.status, "rotated")
        assert.equal(rotated.status === "rotated" && rotated.session.lastUsedAt, T0 + 100, "last use is the store's now")
        const published = nextEvent(store, (event) => event.type === "revoked" && event.revocation.id === "s-1")
        await published.ready
        at(T0 + 200)
        const replay = await store.rotate(rotateInput("s-1", "hash-0", "hash-2"))
        assert.equal(replay.status, "reused")
        assert.equal(replay.status === "reused" && replay.revocation.kind, "session")
        await published
        assert.notEqual((await store.getSession("s-1"))?.revokedAt, null)
        at(T0 + 300)
        assert.equal((await store.rotate(rotateInput("s-1", "hash-1", "hash-3"))).status, "revoked")
      })

      test("without a grace window the predecessor is a reuse even at the very instant of its rotation", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "s-1" })))
        at(T0 + 100)
        assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-1"))).status, "rotated")
        assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-2"))).status, "reused")
      })

      test("inside the grace window only the immediate predecessor is tolerated", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "s-1" })))
        at(T0 + 100)
        await store.rotate(rotateInput("s-1", "hash-0", "hash-1", 1000))
        at(T0 + 200)
        await store.rotate(rotateInput("s-1", "hash-1", "hash-2", 1000))
        at(T0 + 300)
        const retry = await store.rotate(rotateInput("s-1", "hash-1", "hash-3", 1000))
        assert.equal(retry.status, "grace")
        at(T0 + 400)
        const older = await store.rotate(rotateInput("s-1", "hash-0", "hash-4", 1000))
        assert.equal(older.status, "reused")
      })

      test("the predecessor is a reuse once the grace window has passed", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "s-1" })))
        at(T0 + 100)
        await store.rotate(rotateInput("s-1", "hash-0", "hash-1", 1000))
        at(T0 + 1100)
        assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-2", 1000))).status, "reused")
      })

      test("the predecessor presented at a time before its rotation is a reuse, not a grace", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "s-1" })))
        at(T0 + 100)
        await store.rotate(rotateInput("s-1", "hash-0", "hash-1", 1000))
        at(T0 + 50)
        assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-2", 1000))).status, "reused")
      })

      test("rotation refuses unknown, absolutely expired and idle sessions, by the store's clock", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "s-1", ttlMs: 1000 })))
        await store.createSession(createInput(sessionInput({ sid: "s-2" })))
        await store.createSession(createInput(sessionInput({ sid: "s-3" })))
        at(T0 + 1)
        assert.equal((await store.rotate(rotateInput("nope", "hash-0", "hash-1"))).status, "missing")
        at(T0 + 999)
        assert.equal((await store.rotate(rotateInput("s-3", "hash-0", "hash-1"))).status, "rotated", "used at T0 + 999")
        at(T0 + 1000)
        assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-1"))).status, "expired")
        at(T0 + 5000)
        const idle = { ...rotateInput("s-2", "hash-0", "hash-1"), idleTimeoutMs: 5000 }
        assert.equal((await store.rotate(idle)).status, "expired", "unused for 5000 ms")
        const used = { ...rotateInput("s-3", "hash-1", "hash-2"), idleTimeoutMs: 5000 }
        assert.equal((await store.rotate(used)).status, "rotated", "its last use was the rotation at T0 + 999")
      })

      test("rotation refuses a revoked session from the store's records, after replicas let go of it", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "s-1" })))
        await store.revoke(revocation({ kind: "session", id: "s-1", expiresAt: T0 + 24 * HOUR, replicaUntil: T0 + 10 }))
        at(T0 + 20)
        assert.deepEqual(await store.snapshot(T0 + 20), [], "no replica holds it any more")
        assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-1"))).status, "revoked")
        assert.equal((await store.rotate(rotateInput("s-1", "hash-x", "hash-1"))).status, "revoked", "a stale hash too")
      })

      test("rotation refuses a session its subject's live revocation cuts off, and only while it lasts", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "before" })))
        await store.createSession(createInput(sessionInput({ sid: "bobs", subject: "bob" })))
        const cut = await store.revoke(revocation({ kind: "subject", id: "alice", expiresAt: T0 + 2 * HOUR, replicaUntil: T0 + 10 }))
        await store.createSession(createInput(sessionInput({ sid: "after" })))
        at(T0 + 20)
        assert.deepEqual(await store.snapshot(T0 + 20), [], "no replica holds the cut-off any more")
        assert.equal((await store.rotate(rotateInput("before", "hash-0", "hash-1"))).status, "revoked")
        assert.equal((await store.rotate(rotateInput("before", "hash-x", "hash-1"))).status, "revoked", "not a reuse: nothing recorded")
        assert.equal((await store.getSession("before"))?.revokedAt, null)
        assert.equal((await store.rotate(rotateInput("after", "hash-0", "hash-1"))).status, "rotated", "created after the cut-off")
        assert.equal((await store.rotate(rotateInput("bobs", "hash-0", "hash-1"))).status, "rotated", "another subject")
        at(cut.expiresAt)
        assert.equal((await store.rotate(rotateInput("before", "hash-0", "hash-1"))).status, "rotated", "an ended cut-off cuts off nothing")
      })

      test("rotation works again once the subject's cut-off is taken back", async () => {
        const store = await fresh()
        await store.createSession(createInput(sessionInput({ sid: "s-1" })))
        await store.revoke(revocation({ kind: "subject", id: "alice", replicaUntil: T0 + 10 }))
        at(T0 + 20)
        assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-1"))).status, "revoked")
        assert.equal(await store.unrevoke("subject", "alice"), true)
        assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-1"))).status, "rotated")
      })

      test("ten concurrent rotations of one refresh hash: exactly one wins, twenty rounds", async () => {
        const store = await fresh()
        for (let round = 0; round < 20; round++) {
          const sid = `race-${round}`
          await store.createSession(createInput(sessionInput({ sid })))
          const results = await Promise.all(
            Array.from({ length: 10 }, (_, i) => store.rotate(rotateInput(sid, "hash-0", `next-${i}`))),
          )
          assert.equal(results.filter((result) => result.status === "rotated").length, 1, `round ${round}`)
          assert.equal(results.filter((result) => result.status === "grace").length, 0, `round ${round}`)
        }
      })
    })

    describe("keys", () => {
      test("keys are saved, listed, retired and deleted, each change published", async () => {
        const store = await fresh()
        const key = { kid: "k-1", alg: "EdDSA", privateJwk: '{"kty":"OKP"}', createdAt: T0, activatesAt: T0, retiredAt: null }
        const published = nextEvent(store, (event) => event.type === "keys")
        await published.ready
        await store.saveKey(key)
        await published
        assert.deepEqual(await store.listKeys(), [key])
        await store.retireKey("k-1", T0 + 5)
        assert.deepEqual(await store.listKeys(), [{ ...key, retiredAt: T0 + 5 }])
        await store.deleteKey("k-1")
        assert.deepEqual(await store.listKeys(), [])
      })

      test("a key's activation time is kept apart from its creation, and a save by kid replaces it", async () => {
        const store = await fresh()
        const next = { kid: "k-next", alg: "EdDSA", privateJwk: '{"kty":"OKP"}', createdAt: T0 + 1, activatesAt: T0 + 900_000, retiredAt: null }
        await store.saveKey(next)
        assert.deepEqual(await store.listKeys(), [next])
        await store.saveKey({ ...next, activatesAt: T0 + 2 })
        assert.deepEqual(await store.listKeys(), [{ ...next, activatesAt: T0 + 2 }], "rotating at once over a published key")
      })

      test("now() reads the store's clock, which dates key activation", async (t) => {
        const store = await fresh()
        if (store.now === undefined) return t.skip("the store has no clock of its own: instances use theirs")
        assert.equal(await store.now(), T0)
        at(T0 + 1234)
        assert.equal(await store.now(), T0 + 1234)
      })
    })

    const server = target.server ?? true
    /** A fresh store that must fulfil the server's extension. */
    async function freshServer(): Promise<ServerStore> {
      const store = await fresh()
      for (const method of ["getDocument", "putDocument", "deleteDocument", "listDocuments", "hit"] as const) {
        assert.equal(typeof (store as Partial<ServerStore>)[method], "function", `a ServerStore has ${method}()`)
      }
      return store as ServerStore
    }

    // Registered only for a ServerStore: a library-only store has nothing here to skip.
    const describeServer: (name: string, body: () => void) => void = server ? (name, body) => describe(name, body) : () => undefined
    describeServer("documents and rate-limit windows", () => {
      test("documents are written, compared-and-set, listed in id order and deleted", async () => {
        const store = await freshServer()
        assert.equal(await store.getDocument("users", "alice"), null)
        assert.equal(await store.putDocument("users", "alice", '{"v":1}', null), true)
        assert.equal(await store.putDocument("users", "alice", '{"v":2}', null), false, "null means only if absent")
        assert.equal(await store.putDocument("users", "alice", '{"v":2}', '{"v":0}'), false, "stale expected text")
        assert.equal(await store.putDocument("users", "alice", '{"v":2}', '{"v":1}'), true)
        assert.equal(await store.getDocument("users", "alice"), '{"v":2}')
        assert.equal(await store.putDocument("users", "alice", '{"v":3}'), true, "no expectation: unconditional")
        assert.equal(await store.getDocument("clients", "alice"), null, "collections are separate")
        for (const id of ["carol", "bob", "dave", "émile"]) await store.putDocument("users", id, `"${id}"`)
        const ids: string[] = []
        let cursor: string | null = null
        do {
          const page = await store.listDocuments("users", { cursor, limit: 2 })
          ids.push(...page.items.map((item) => item.id))
          cursor = page.next
        } while (cursor !== null)
        assert.deepEqual(ids, ["alice", "bob", "carol", "dave", "émile"])
        assert.equal(await store.deleteDocument("users", "bob"), true)
        assert.equal(await store.deleteDocument("users", "bob"), false)
        assert.equal(await store.getDocument("users", "bob"), null)
      })

      test("concurrent create-if-absent of one document: exactly one wins", async () => {
        const store = await freshServer()
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.putDocument("users", "same", `${i}`, null)))
        assert.equal(results.filter(Boolean).length, 1)
      })

      test("a rate-limit window counts attempts until it ends, then starts again", async () => {
        const store = await freshServer()
        assert.deepEqual(await store.hit("login:alice", 60_000, T0), { count: 1, resetAt: T0 + 60_000 })
        assert.deepEqual(await store.hit("login:alice", 60_000, T0 + 10), { count: 2, resetAt: T0 + 60_000 })
        assert.deepEqual(await store.hit("login:bob", 60_000, T0 + 10), { count: 1, resetAt: T0 + 60_010 })
        assert.deepEqual(await store.hit("login:alice", 60_000, T0 + 60_000), { count: 1, resetAt: T0 + 120_000 })
        const counts = await Promise.all(Array.from({ length: 10 }, () => store.hit("ip:1", 60_000, T0)))
        assert.deepEqual(counts.map((c) => c.count).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      })
    })

    describeServer("audit log", () => auditConformance({ fresh: freshServer, at, start: T0 }))

    describe("change feed", () => {
      test("subscribers receive revocations and unrevocations in order", async () => {
        const store = await fresh()
        const events: ChangeEvent[] = []
        const done = nextEvent(store, (event) => event.type === "unrevoked")
        await done.ready
        const subscription = await store.subscribe((event) => {
          if (event.type === "revoked" || event.type === "unrevoked") events.push(event)
        })
        await store.revoke(revocation({ replicaUntil: T0 + 10 }))
        await store.unrevoke("token", "jti-1")
        await done
        await subscription.close()
        assert.deepEqual(
          events.map((event) => event.type),
          ["revoked", "unrevoked"],
        )
        assert.deepEqual(events[0], { type: "revoked", revocation: { ...revocation(), cutoff: 0, replicaUntil: T0 + 10 } })
      })

      if (target.peer) {
        const makePeer = target.peer
        test("another instance on the same data receives every change", async () => {
          const store = await fresh()
          const peer = await makePeer(store, { clock })
          opened.push(peer)
          const seen: string[] = []
          const last = nextEvent(peer, (event) => event.type === "unrevoked" && event.id === "t-2")
          await last.ready
          const subscription = await peer.subscribe((event) => {
            if (event.type === "revoked") seen.push(`+${event.revocation.id}`)
            if (event.type === "unrevoked") seen.push(`-${event.id}`)
          })
          await store.revoke(revocation({ id: "t-1" }))
          await store.revoke(revocation({ kind: "subject", id: "alice" }))
          await store.revoke(revocation({ id: "t-2" }))
          await store.unrevoke("token", "t-2")
          await last
          await subscription.close()
          assert.deepEqual(seen, ["+t-1", "+alice", "+t-2", "-t-2"])
          assert.deepEqual((await peer.snapshot(T0)).map((row) => row.id).sort(), ["alice", "t-1"])
        })

        test("a rotation on one instance is seen by the other: exactly one of two racing instances wins", async () => {
          const store = await fresh()
          const peer = await makePeer(store, { clock })
          opened.push(peer)
          await store.createSession(createInput(sessionInput({ sid: "shared" })))
          at(T0 + 1)
          const results = await Promise.all([
            ...Array.from({ length: 5 }, (_, i) => store.rotate(rotateInput("shared", "hash-0", `a-${i}`))),
            ...Array.from({ length: 5 }, (_, i) => peer.rotate(rotateInput("shared", "hash-0", `b-${i}`))),
          ])
          assert.equal(results.filter((result) => result.status === "rotated").length, 1)
        })
      }
    })
  })
}

export function rotateInput(sid: string, presentedHash: string, nextHash: string, graceMs = 0) {
  return {
    sid,
    presentedHash,
    nextHash,
    graceMs,
    idleTimeoutMs: 30 * 24 * HOUR,
    reuseRevocation: revocation({ kind: "session", id: sid, reason: "refresh token reused", actor: "revocable" }),
  }
}
