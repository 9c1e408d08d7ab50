import assert from "node:assert/strict"
import { test } from "node:test"
import { IdSet } from "../../src/core/idset.ts"

/** A deterministic stream of numbers in [0, 1). */
function seeded(seed: number): () => number {
  return () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32
}

test("IdSet agrees with a Map through random adds, deletes, prunes and growth", () => {
  // Rare prunes let the set grow to 4096 slots and long probe chains form, which deletes must keep unbroken.
  const set = new IdSet()
  const model = new Map<string, number>()
  const random = seeded(7)
  const ids = Array.from({ length: 3000 }, (_, i) => `${Math.floor(random() * 2 ** 32).toString(36)}-${i}`)
  for (let step = 0; step < 40_000; step++) {
    const id = ids[Math.floor(random() * ids.length)] as string
    const roll = random()
    if (roll < 0.6) {
      const expiresAt = 1_000_000 + Math.floor(random() * 1000) * 1000
      set.set(id, expiresAt)
      model.set(id, Math.max(model.get(id) ?? 0, expiresAt))
    } else if (roll < 0.995) {
      assert.equal(set.delete(id), model.delete(id))
    } else {
      const now = 1_000_000 + Math.floor(random() * 250) * 1000
      set.prune(now)
      for (const [key, expiresAt] of model) if (expiresAt <= now) model.delete(key)
    }
    assert.equal(set.size, model.size)
  }
  for (const id of ids) assert.equal(set.has(id), model.has(id), id)
})

test("IdSet keeps a million revoked ids in under 32 MB", () => {
  const set = new IdSet()
  for (let i = 0; i < 1_000_000; i++) set.set(`jti-${i}`, 2_000_000_000_000)
  assert.equal(set.size, 1_000_000)
  assert.ok(set.byteLength <= 32 * 1024 * 1024, `${set.byteLength} bytes`)
})

test("IdSet keeps 15 625 ids in under 512 KB: the million-id budget at 1/64 the size, quick enough to run often", () => {
  const set = new IdSet()
  for (let i = 0; i < 15_625; i++) set.set(`jti-${i}`, 2_000_000_000_000)
  assert.equal(set.size, 15_625)
  assert.ok(set.byteLength <= 512 * 1024, `${set.byteLength} bytes`)
})

test("IdSet holds 12 bytes a slot: 1024 slots to start with, or the power of two at or above the capacity asked for", () => {
  assert.equal(new IdSet().byteLength, 12 * 1024)
  assert.equal(new IdSet(10).byteLength, 12 * 1024)
  assert.equal(new IdSet(3000).byteLength, 12 * 4096)
  assert.equal(new IdSet(4096).byteLength, 12 * 4096)
})

test("reserve makes room for a snapshot at once, keeping what the set held; room it already has changes nothing", () => {
  const set = new IdSet()
  for (let i = 0; i < 100; i++) set.set(`held-${i}`, 5_000_000)
  set.reserve(3000)
  // 3 100 entries within a load of 0.6: 8 192 slots, not the 4 096 that 3 100 alone fit in.
  assert.equal(set.byteLength, 12 * 8192)
  assert.equal(set.size, 100)
  for (let i = 0; i < 100; i++) assert.equal(set.has(`held-${i}`), true, `held-${i}`)
  set.reserve(1000)
  assert.equal(set.byteLength, 12 * 8192)
  for (let i = 0; i < 3000; i++) set.set(`new-${i}`, 5_000_000)
  assert.equal(set.byteLength, 12 * 8192, "3 100 entries fit in the room made for them")
  assert.equal(set.size, 3100)
})

test("an absent id is not found at any size the set passes through, so a verify never probes a full table forever", () => {
  const set = new IdSet()
  assert.equal(set.has("absent"), false)
  for (let i = 0; i < 2100; i++) {
    set.set(`jti-${i}`, 5_000_000)
    assert.equal(set.has("absent"), false, `with ${i + 1} ids`)
  }
  assert.equal(set.has("jti-2099"), true)
})

test("ids that are not in the set are not found, also after their neighbours are deleted", () => {
  const set = new IdSet()
  const kept = Array.from({ length: 5000 }, (_, i) => `kept-${i}`)
  const dropped = Array.from({ length: 5000 }, (_, i) => `dropped-${i}`)
  for (const id of [...kept, ...dropped]) set.set(id, 5_000_000)
  assert.ok(dropped.every((id) => set.delete(id)))
  assert.equal(set.size, kept.length)
  assert.ok(kept.every((id) => set.has(id)))
  assert.ok(dropped.every((id) => !set.has(id)))
  assert.equal(set.has("never-added"), false)
})

test("two ids that share one 32-bit half of their fingerprint are separate entries: each is added, found and deleted alone", () => {
  // Found by searching jti-0, jti-1, ... against the hashes in idset.ts: the first pair shares the murmur half
  // (so one probe chain at every table size), the second the FNV half and its home slot in a new set.
  const pairs = [["jti-20", "jti-93293"], ["jti-845718", "jti-2903980"]] as const
  for (const [a, b] of pairs) {
    const set = new IdSet()
    set.set(a, 5_000_000)
    assert.equal(set.has(b), false, `${b} is not ${a}`)
    assert.equal(set.delete(b), false, `deleting ${b} leaves ${a}`)
    assert.equal(set.has(a), true)
    set.set(b, 5_000_000)
    assert.equal(set.size, 2, `${b} is added beside ${a}`)
    assert.equal(set.has(b), true)
    assert.equal(set.delete(a), true)
    assert.equal(set.has(a), false)
    assert.equal(set.has(b), true, `deleting ${a} leaves ${b}`)
    assert.equal(set.size, 1)
  }
})

test("prune() keeps an id until its expiry, to the millisecond, and drops it less than a second after", () => {
  for (const expiresAt of [5_000_000, 5_000_001, 5_000_500, 5_000_999]) {
    const set = new IdSet()
    set.set("jti", expiresAt)
    set.prune(expiresAt - 1)
    assert.equal(set.has("jti"), true, `expiring at ${expiresAt}, pruned 1 ms before`)
    set.prune(expiresAt + 999)
    assert.equal(set.has("jti"), false, `expiring at ${expiresAt}, pruned 999 ms after`)
    assert.equal(set.size, 0)
  }
})

test("set() of an id already present keeps the later of its two expiries", () => {
  const set = new IdSet()
  set.set("jti", 9_000_000)
  set.set("jti", 5_000_000)
  assert.equal(set.size, 1)
  set.prune(8_999_999)
  assert.equal(set.has("jti"), true)
  set.set("jti", 12_000_000)
  set.prune(11_999_999)
  assert.equal(set.has("jti"), true)
})

test("an expiry past 2106, beyond 32 bits of seconds, is kept as the latest one the set can hold, never as none", () => {
  const set = new IdSet()
  for (const expiresAt of [2 ** 32 * 1000, 2 ** 33 * 1000, Date.UTC(2999, 11, 31)]) set.set(`jti-${expiresAt}`, expiresAt)
  set.prune((2 ** 32 - 2) * 1000)
  assert.equal(set.size, 3)
  assert.ok([2 ** 32 * 1000, 2 ** 33 * 1000, Date.UTC(2999, 11, 31)].every((expiresAt) => set.has(`jti-${expiresAt}`)))
})
