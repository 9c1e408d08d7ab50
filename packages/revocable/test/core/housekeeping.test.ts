// The purge: expired revocations and sessions go, from the replica and the store, by the clock; so do managed
// keys retired longer ago than any token of theirs can live.
import assert from "node:assert/strict"
import { describe, test } from "node:test"
import { Events } from "../../src/core/events.ts"
import { Housekeeping, type HousekeepingOptions } from "../../src/core/housekeeping.ts"
import { generateStoredKey } from "../../src/core/keys.ts"
import { Replica } from "../../src/core/replica.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import type { Revocation, Store } from "../../src/core/store.ts"
import { manualClock } from "../helpers/clock.ts"
import { flakyStore } from "../helpers/flaky.ts"

const T0 = Date.UTC(2026, 0, 15)
const LONGEST_LIFE_MS = 3_600_000

function housekeeping(store: Store, overrides: Partial<HousekeepingOptions> = {}) {
  const options: HousekeepingOptions = {
    store,
    replica: new Replica(),
    clock: manualClock(T0),
    intervalMs: null,
    managedKeys: true,
    longestLifeMs: LONGEST_LIFE_MS,
    events: new Events(),
    ...overrides,
  }
  return { unit: new Housekeeping(options), ...options }
}

function revocation(id: string, expiresAt: number): Revocation {
  return { kind: "token", id, subject: "alice", reason: null, actor: null, createdAt: T0, expiresAt, cutoff: 0 }
}

describe("housekeeping", () => {
  test("purge() forgets revocations that have expired by the clock, in the replica and in the store", async () => {
    const clock = manualClock(T0)
    const store = memoryStore({ clock })
    const { unit, replica } = housekeeping(store, { clock })
    for (const entry of [revocation("ended", T0 + 1000), revocation("live", T0 + 5000)]) replica.add(await store.revoke(entry))
    clock.tick(2000)
    await unit.purge()
    assert.equal(replica.size, 1)
    assert.equal(replica.isRevoked("live", "s", "alice", 0, "k"), true)
    assert.deepEqual((await store.snapshot(0)).map((entry) => entry.id), ["live"])
  })

  test("purge() deletes managed keys retired longer ago than any token can live, and only those", async () => {
    const clock = manualClock(T0)
    const store = memoryStore({ clock })
    const [old, recent, current] = [generateStoredKey("HS256", T0 - 3), generateStoredKey("HS256", T0 - 2), generateStoredKey("HS256", T0 - 1)]
    for (const key of [old, recent, current]) await store.saveKey(key)
    await store.retireKey(old.kid, T0 - LONGEST_LIFE_MS - 1)
    await store.retireKey(recent.kid, T0 - LONGEST_LIFE_MS)
    await housekeeping(store, { clock }).unit.purge()
    assert.deepEqual((await store.listKeys()).map((key) => key.kid).sort(), [recent.kid, current.kid].sort())
    await store.retireKey(current.kid, T0 - LONGEST_LIFE_MS - 1)
    await housekeeping(store, { clock, managedKeys: false }).unit.purge()
    assert.equal((await store.listKeys()).length, 2, "static keys: the store's keys are not ours to delete")
  })

  test("a purge that fails is reported as store-unavailable and resolves; the next one tries again", async () => {
    const store = flakyStore(1000)
    const { unit, events } = housekeeping(store)
    const reported: Array<{ failOpen: boolean }> = []
    events.on("store-unavailable", (event) => reported.push(event))
    store.down = true
    await unit.purge()
    assert.deepEqual(reported.map((event) => event.failOpen), [false])
    store.down = false
    await unit.purge()
    assert.equal(reported.length, 1)
  })

  test("start() purges every interval until stop()", async (t) => {
    t.mock.timers.enable({ apis: ["setInterval"] })
    const store = memoryStore()
    let purges = 0
    const { unit } = housekeeping({ ...store, purge: async (now) => (purges++, store.purge(now)) }, { intervalMs: 60_000 })
    unit.start()
    t.mock.timers.tick(60_000)
    t.mock.timers.tick(60_000)
    assert.equal(purges, 2)
    unit.stop()
    t.mock.timers.tick(60_000)
    assert.equal(purges, 2)
    housekeeping(store).unit.start()
    t.mock.timers.tick(3_600_000)
    assert.equal(purges, 2, "intervalMs null: no timer")
  })

  test("start() prunes the replica every minute, without a store call, even with purges left to the CLI", async (t) => {
    t.mock.timers.enable({ apis: ["setInterval"] })
    const clock = manualClock(T0)
    const store = memoryStore({ clock })
    let purges = 0
    const { unit, replica } = housekeeping({ ...store, purge: async (now) => (purges++, store.purge(now)) }, { clock, intervalMs: null })
    replica.add(await store.revoke(revocation("ended", T0 + 30_000)))
    replica.add(await store.revoke(revocation("live", T0 + 120_000)))
    unit.start()
    clock.tick(60_000)
    t.mock.timers.tick(60_000)
    assert.equal(replica.size, 1)
    assert.equal(replica.isRevoked("live", "s", "alice", 0, "k"), true)
    assert.equal(purges, 0)
    unit.stop()
    clock.tick(120_000)
    t.mock.timers.tick(60_000)
    assert.equal(replica.size, 1, "stopped: no more pruning")
  })

  test("the purge timer does not keep the process alive", () => {
    const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === "Timeout").length
    const before = timers()
    const { unit } = housekeeping(memoryStore(), { intervalMs: 60_000 })
    unit.start()
    assert.equal(timers(), before)
    unit.stop()
  })
})
