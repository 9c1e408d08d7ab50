// The store conformance suite's change feed: on one instance, and across two on the same data when the target makes a peer.
import assert from "node:assert/strict"
import { test } from "node:test"
import type { ChangeEvent, Store } from "../core/store.ts"
import { type ConformanceContext, createInput, nextEvent, revocation, rotateInput, sessionInput, T0 } from "./fixtures.ts"

export interface FeedContext extends ConformanceContext {
  /** A second opened store on the same data as `store`, closed with the others; absent when the target has none. */
  peer: ((store: Store) => Promise<Store>) | undefined
}

export function feedConformance({ fresh, at, peer: makePeer }: FeedContext): void {
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

  if (makePeer !== undefined) {
    test("another instance on the same data receives every change", async () => {
      const store = await fresh()
      const peer = await makePeer(store)
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
      const peer = await makePeer(store)
      await store.createSession(createInput(sessionInput({ sid: "shared" })))
      at(T0 + 1)
      const results = await Promise.all([
        ...Array.from({ length: 5 }, (_, i) => store.rotate(rotateInput("shared", "hash-0", `a-${i}`))),
        ...Array.from({ length: 5 }, (_, i) => peer.rotate(rotateInput("shared", "hash-0", `b-${i}`))),
      ])
      assert.equal(results.filter((result) => result.status === "rotated").length, 1)
    })
  }
}
