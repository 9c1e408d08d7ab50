import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { test } from "node:test"
import { IdSet } from "../../src/core/idset.ts"

test("IdSet agrees with a Map through random adds, deletes, prunes and growth", () => {
  const set = new IdSet()
  const model = new Map<string, number>()
  const ids = Array.from({ length: 3000 }, () => randomBytes(16).toString("base64url"))
  let seed = 7
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32
  for (let step = 0; step < 40_000; step++) {
    const id = ids[Math.floor(random() * ids.length)] as string
    const roll = random()
    if (roll < 0.55) {
      const expiresAt = 1_000_000 + Math.floor(random() * 1000) * 1000
      set.set(id, expiresAt)
      model.set(id, Math.max(model.get(id) ?? 0, expiresAt))
    } else if (roll < 0.95) {
      assert.equal(set.delete(id), model.delete(id))
    } else {
      const now = 1_000_000 + Math.floor(random() * 1000) * 1000
      set.prune(now)
      for (const [key, expiresAt] of model) if (expiresAt <= now) model.delete(key)
    }
    assert.equal(set.size, model.size)
  }
  for (const id of ids) assert.equal(set.has(id), model.has(id), id)
})

test("IdSet keeps a million revoked ids in under 32 MB", () => {
  const set = new IdSet()
  for (let i = 0; i < 1_000_000; i++) set.set(randomBytes(16).toString("base64url"), 2_000_000_000_000)
  assert.equal(set.size, 1_000_000)
  assert.ok(set.byteLength <= 32 * 1024 * 1024, `${set.byteLength} bytes`)
})

test("ids that are not in the set are not found, also after their neighbours are deleted", () => {
  const set = new IdSet()
  const kept = Array.from({ length: 5000 }, (_, i) => `kept-${i}`)
  const dropped = Array.from({ length: 5000 }, (_, i) => `dropped-${i}`)
  for (const id of [...kept, ...dropped]) set.set(id, 5_000_000)
  for (const id of dropped) set.delete(id)
  assert.ok(kept.every((id) => set.has(id)))
  assert.ok(dropped.every((id) => !set.has(id)))
  assert.equal(set.has("never-added"), false)
})
