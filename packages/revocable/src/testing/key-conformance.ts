// The store conformance suite's signing keys and the store's clock.
import assert from "node:assert/strict"
import { test } from "node:test"
import { type ConformanceContext, nextEvent, T0 } from "./fixtures.ts"

export function keyConformance({ fresh, at }: ConformanceContext): void {
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
}
