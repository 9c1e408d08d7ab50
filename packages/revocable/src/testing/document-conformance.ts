// The store conformance suite's server extension: documents and rate-limit windows (storeConformance runs it for every ServerStore).
import assert from "node:assert/strict"
import { test } from "node:test"
import type { ServerStore } from "../stores/server-store.ts"
import { type ConformanceContext, T0 } from "./fixtures.ts"

export function documentConformance({ fresh }: ConformanceContext<ServerStore>): void {
  test("documents are written, compared-and-set, listed in id order and deleted", async () => {
    const store = await fresh()
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
    const store = await fresh()
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.putDocument("users", "same", `${i}`, null)))
    assert.equal(results.filter(Boolean).length, 1)
  })

  test("a rate-limit window counts attempts until it ends, then starts again", async () => {
    const store = await fresh()
    assert.deepEqual(await store.hit("login:alice", 60_000, T0), { count: 1, resetAt: T0 + 60_000 })
    assert.deepEqual(await store.hit("login:alice", 60_000, T0 + 10), { count: 2, resetAt: T0 + 60_000 })
    assert.deepEqual(await store.hit("login:bob", 60_000, T0 + 10), { count: 1, resetAt: T0 + 60_010 })
    assert.deepEqual(await store.hit("login:alice", 60_000, T0 + 60_000), { count: 1, resetAt: T0 + 120_000 })
    const counts = await Promise.all(Array.from({ length: 10 }, () => store.hit("ip:1", 60_000, T0)))
    assert.deepEqual(counts.map((c) => c.count).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  })
}
