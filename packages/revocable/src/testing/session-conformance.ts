// The store conformance suite's sessions: creation, listing, the session limit and subject cut-offs.
import assert from "node:assert/strict"
import { test } from "node:test"
import { type ConformanceContext, createInput, HOUR, nextEvent, query, revocation, sessionInput, T0 } from "./fixtures.ts"

export function sessionConformance({ fresh, at }: ConformanceContext): void {
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
}
