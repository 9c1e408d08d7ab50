// Replica sync: the snapshot and the change feed on top of it, reloads after a reset, and freshness by the clock.
import assert from "node:assert/strict"
import { afterEach, describe, test } from "node:test"
import { createAuth, type Auth, type AuthOptions } from "../../src/index.ts"
import { Events } from "../../src/core/events.ts"
import { Replica } from "../../src/core/replica.ts"
import { ReplicaSync } from "../../src/core/sync.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import type { ChangeEvent, ChangeListener, Clock, Revocation, Store } from "../../src/core/store.ts"
import { manualClock, type ManualClock } from "../helpers/clock.ts"
import { flakyStore } from "../helpers/flaky.ts"

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0)
const MAX_STALENESS_MS = 5000
const opened: Array<Auth | ReplicaSync> = []
const feeds: Feed[] = []

afterEach(async () => {
  // A test that failed with a snapshot held must not hold up close() as well.
  for (const feed of feeds.splice(0)) {
    feed.holding = false
    feed.drain()
  }
  for (const unit of opened.splice(0)) await unit.close()
})

function makeAuth(clock: ManualClock, overrides: Partial<AuthOptions> = {}): Auth {
  const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store: memoryStore({ clock }), leeway: 0, clock, ...overrides })
  opened.push(auth)
  return auth
}

interface Feed {
  /** A store with an asynchronous feed (heartbeats every second) that only this test writes to. */
  store: Store
  send(event: ChangeEvent): void
  /** Snapshots read while this is set answer only when released, oldest first. */
  holding: boolean
  release(): void
  /** Releases every snapshot held. */
  drain(): void
  snapshots: number
  subscriptionClosed: boolean
}

function scriptedFeed(clock: Clock): Feed {
  const base = memoryStore({ clock })
  let listener: ChangeListener = () => undefined
  const waiting: Array<() => void> = []
  const feed: Feed = {
    store: {
      ...base,
      heartbeatMs: 1000,
      async subscribe(next) {
        listener = next
        return { close: async () => void (feed.subscriptionClosed = true) }
      },
      async snapshot(now) {
        feed.snapshots++
        const rows = await base.snapshot(now)
        if (feed.holding) await new Promise<void>((resolve) => waiting.push(resolve))
        return rows
      },
    },
    send: (event) => listener(event),
    holding: false,
    release: () => waiting.shift()?.(),
    drain: () => {
      for (const resolve of waiting.splice(0)) resolve()
    },
    snapshots: 0,
    subscriptionClosed: false,
  }
  feeds.push(feed)
  return feed
}

function makeSync(store: Store, clock: Clock, onKeys: () => void = () => undefined): { sync: ReplicaSync; replica: Replica; events: Events } {
  const replica = new Replica()
  const events = new Events()
  const sync = new ReplicaSync({ store, replica, clock, maxStalenessMs: MAX_STALENESS_MS, events, onKeys })
  opened.push(sync)
  return { sync, replica, events }
}

function revocation(id: string, clock: Clock): Revocation {
  return { kind: "token", id, subject: "alice", reason: null, actor: null, createdAt: clock(), expiresAt: clock() + 60_000, cutoff: 0 }
}

/** Lets the memory store's answers, and what they set off, run. */
function settle(): Promise<void> {
  return new Promise(setImmediate)
}

describe("replica sync", () => {
  test("replicaStatus tells the replica's size, freshness and feed resets", async () => {
    const clock = manualClock(T0)
    const store = flakyStore(1000, clock)
    const auth = makeAuth(clock, { store, maxStaleness: "5s" })
    const pair = await auth.issue("alice")
    await auth.revoke(pair.accessToken)
    await auth.revokeSubject("bob")
    assert.deepEqual(auth.replicaStatus(), { entries: 2, fresh: true, stalenessMs: 0, resets: 0 })
    clock.tick(6000)
    assert.deepEqual(auth.replicaStatus(), { entries: 2, fresh: false, stalenessMs: 6000, resets: 0 })
  })

  test("after a feed reset the replica counts as stale until a snapshot has loaded, heartbeats or not", async () => {
    const clock = manualClock(T0)
    const store = flakyStore(1000, clock)
    const auth = makeAuth(clock, { store, maxStaleness: "5s" })
    const pair = await auth.issue("alice")
    const unavailable = new Promise((resolve) => auth.on("store-unavailable", resolve))
    store.down = true
    store.reset()
    await unavailable
    store.heartbeat()
    await assert.rejects(auth.verify(pair.accessToken), { code: "store_unavailable" })
    store.down = false
    const reloaded = new Promise<void>((resolve) => {
      const original = store.snapshot
      store.snapshot = async (now) => {
        const rows = await original(now)
        setImmediate(resolve)
        return rows
      }
    })
    store.heartbeat()
    await reloaded
    store.down = true
    assert.equal((await auth.verify(pair.accessToken)).sub, "alice", "answered from the reloaded replica")
  })

  test("a change the feed delivers while the snapshot loads is applied on top of it, not lost under it", async () => {
    const clock = manualClock(T0)
    const feed = scriptedFeed(clock)
    const { sync, replica } = makeSync(feed.store, clock)
    feed.holding = true
    const starting = sync.start()
    await settle()
    assert.equal(feed.snapshots, 1)
    const late = await feed.store.revoke(revocation("late", clock))
    feed.send({ type: "revoked", revocation: late })
    assert.equal(replica.isRevoked("late", "s", "alice", 0, "k"), false, "held until the snapshot has loaded")
    feed.release()
    await starting
    assert.equal(replica.isRevoked("late", "s", "alice", 0, "k"), true)
  })

  test("freshness counts from when the snapshot's read was sent, by the clock; heartbeats move it forward, never back", async () => {
    const clock = manualClock(T0)
    const feed = scriptedFeed(clock)
    const { sync } = makeSync(feed.store, clock)
    feed.holding = true
    const starting = sync.start()
    await settle()
    clock.tick(4000)
    feed.release()
    await starting
    assert.deepEqual(sync.status(clock()), { entries: 0, fresh: true, stalenessMs: 4000, resets: 0 })
    clock.tick(MAX_STALENESS_MS - 4000)
    assert.equal(sync.isFresh(clock()), true)
    clock.tick(1)
    assert.equal(sync.isFresh(clock()), false)
    feed.send({ type: "sync", at: T0 + 3000 })
    assert.equal(sync.status(clock()).stalenessMs, 2001)
    feed.send({ type: "sync", at: T0 + 1000 })
    assert.equal(sync.status(clock()).stalenessMs, 2001, "an older heartbeat does not move it back")
  })

  test("with a synchronous feed the replica is always fresh", async () => {
    const clock = manualClock(T0)
    const { sync } = makeSync(memoryStore({ clock }), clock)
    await sync.start()
    clock.tick(86_400_000)
    assert.deepEqual(sync.status(clock()), { entries: 0, fresh: true, stalenessMs: 0, resets: 0 })
  })

  test("two resets during one reload: stale until a snapshot begun after the second has loaded", async () => {
    const clock = manualClock(T0)
    const feed = scriptedFeed(clock)
    const { sync } = makeSync(feed.store, clock)
    await sync.start()
    feed.holding = true
    feed.send({ type: "reset" })
    await settle()
    feed.send({ type: "reset" })
    feed.send({ type: "sync", at: clock() })
    await settle()
    assert.equal(feed.snapshots, 2, "one reload at a time")
    feed.release()
    await settle()
    assert.equal(feed.snapshots, 3, "the second reset reloads again")
    assert.equal(sync.isFresh(clock()), false, "the snapshot loaded was read before the second reset")
    feed.release()
    await settle()
    assert.deepEqual(sync.status(clock()), { entries: 0, fresh: true, stalenessMs: 0, resets: 2 })
  })

  test("a keys change, and a reset (which may have hidden one), ask for the keys again", async () => {
    const clock = manualClock(T0)
    const feed = scriptedFeed(clock)
    let reloads = 0
    const { sync } = makeSync(feed.store, clock, () => reloads++)
    await sync.start()
    feed.send({ type: "keys" })
    assert.equal(reloads, 1)
    feed.holding = true
    feed.send({ type: "reset" })
    assert.equal(reloads, 2, "at once, not after the snapshot")
    await settle()
    feed.release()
  })

  test("close() waits for a reload under way, then ends the subscription", async () => {
    const clock = manualClock(T0)
    const feed = scriptedFeed(clock)
    const { sync } = makeSync(feed.store, clock)
    await sync.start()
    feed.holding = true
    feed.send({ type: "reset" })
    await settle()
    let closed = false
    const closing = sync.close().then(() => (closed = true))
    await settle()
    assert.equal(closed, false)
    assert.equal(feed.subscriptionClosed, false)
    feed.release()
    await closing
    assert.equal(feed.subscriptionClosed, true)
  })

  test("a reload queued behind another runs alone too, and close() waits for it as well", async () => {
    const clock = manualClock(T0)
    const feed = scriptedFeed(clock)
    const { sync } = makeSync(feed.store, clock)
    await sync.start()
    feed.holding = true
    feed.send({ type: "reset" })
    await settle()
    feed.send({ type: "reset" })
    feed.release()
    await settle()
    assert.equal(feed.snapshots, 3, "the second reload began once the first had loaded")
    feed.send({ type: "sync", at: clock() })
    await settle()
    assert.equal(feed.snapshots, 3, "a heartbeat meanwhile starts no third")
    let closed = false
    const closing = sync.close().then(() => (closed = true))
    await settle()
    assert.equal(closed, false)
    assert.equal(feed.subscriptionClosed, false)
    feed.release()
    await closing
    assert.equal(feed.subscriptionClosed, true)
    assert.equal(sync.isFresh(clock()), true)
  })

  test("a reload after a reset that fails is reported as store-unavailable; the next heartbeat tries again", async () => {
    const clock = manualClock(T0)
    const store = flakyStore(1000, clock)
    const { sync, events } = makeSync(store, clock)
    await sync.start()
    const reported: unknown[] = []
    events.on("store-unavailable", (event) => reported.push(event.error))
    store.down = true
    store.reset()
    await settle()
    assert.equal(reported.length, 1)
    assert.equal(sync.isFresh(clock()), false)
    store.down = false
    store.heartbeat()
    await settle()
    assert.equal(sync.isFresh(clock()), true)
  })

  test("a revocation and an unrevocation made on another instance apply here, announced with revoked and unrevoked", async () => {
    const clock = manualClock(T0)
    const store = memoryStore({ clock })
    const here = makeAuth(clock, { store })
    const there = makeAuth(clock, { store })
    const pair = await here.issue("alice")
    const seen: unknown[] = []
    here.on("revoked", (revocation) => seen.push(["revoked", revocation.kind, revocation.id]))
    here.on("unrevoked", (target) => seen.push(["unrevoked", target]))
    const revocation = await there.revoke(pair.accessToken)
    const id = revocation?.id ?? ""
    await assert.rejects(here.verify(pair.accessToken), { code: "token_revoked" })
    assert.equal(await there.unrevoke("token", id), true)
    assert.equal((await here.verify(pair.accessToken)).sub, "alice")
    assert.deepEqual(seen, [["revoked", "token", id], ["unrevoked", { kind: "token", id }]])
  })

  test("an instance closed before it started, or after its start failed, closes without an error", async () => {
    const clock = manualClock(T0)
    await makeAuth(clock).close()
    const store = flakyStore(1000, clock)
    store.down = true
    const failed = makeAuth(clock, { store })
    await assert.rejects(failed.ready(), { code: "store_unavailable" })
    await failed.close()
  })
})
