// The store conformance suite's revocations: revoke, unrevoke, matching, expiry, replicaUntil and listing.
import assert from "node:assert/strict"
import { test } from "node:test"
import { type ConformanceContext, createInput, HOUR, query, revocation, rotateInput, sessionInput, T0 } from "./fixtures.ts"

export function revocationConformance({ fresh, at }: ConformanceContext): void {
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
}
