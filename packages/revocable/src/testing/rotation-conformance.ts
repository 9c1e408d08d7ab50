// The store conformance suite's refresh rotation: reuse, the grace window, expiry, revocation and races.
import assert from "node:assert/strict"
import { test } from "node:test"
import { type ConformanceContext, createInput, HOUR, nextEvent, revocation, rotateInput, sessionInput, T0 } from "./fixtures.ts"

export function rotationConformance({ fresh, at }: ConformanceContext): void {
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
}
