// The keychain: the order of overlapping key loads, the unknown-kid reload's limit by the clock, which reloads may
// make a key, rotation and retirement. Across instances, through createAuth, see managed-keys.test.ts.
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { describe, test } from "node:test"
import { createAuth } from "../../src/index.ts"
import { Events } from "../../src/core/events.ts"
import { Keychain, STORE_CLOCK_READ_MS, UNKNOWN_KID_RELOAD_MS } from "../../src/core/keychain.ts"
import { generateStoredKey, importStoredKey, KeyRing } from "../../src/core/keys.ts"
import { Replica } from "../../src/core/replica.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import type { Store, StoredKey } from "../../src/core/store.ts"
import { manualClock, type ManualClock } from "../helpers/clock.ts"
import { flakyStore } from "../helpers/flaky.ts"
import { decode, split } from "../helpers/forge.ts"

const T0 = Date.UTC(2026, 0, 15)

interface Scripted {
  store: Store
  /** listKeys() calls so far. */
  lists: number
  /** While set, listKeys() reads the keys when called but answers only when released. */
  holding: boolean
  release(which?: "oldest" | "newest"): void
  /** While set, listKeys() rejects. */
  down: boolean
}

function scriptedKeys(clock: ManualClock): Scripted {
  const base = memoryStore({ clock })
  const waiting: Array<() => void> = []
  const scripted: Scripted = {
    lists: 0,
    holding: false,
    down: false,
    release: (which = "oldest") => (which === "oldest" ? waiting.shift() : waiting.pop())?.(),
    store: {
      ...base,
      async listKeys() {
        scripted.lists++
        if (scripted.down) throw new Error("connect ECONNREFUSED 127.0.0.1:1")
        const keys = await base.listKeys()
        if (scripted.holding) await new Promise<void>((resolve) => waiting.push(resolve))
        return keys
      },
    },
  }
  return scripted
}

function managed(store: Store, clock: ManualClock, replica = new Replica(), activationDelayMs = 0): { keys: Keychain; events: Events } {
  const events = new Events()
  return { keys: new Keychain({ store, staticKeys: null, algorithm: "HS256", activationDelayMs, clock, replica, events }), events }
}

/** Saves a key made `ms` after the clock's now, so that it is the newest, and active now. */
async function saveKey(store: Store, clock: ManualClock, ms = 1): Promise<StoredKey> {
  const key = generateStoredKey("HS256", clock() + ms, clock())
  await store.saveKey(key)
  return key
}

function settle(): Promise<void> {
  return new Promise(setImmediate)
}

function kidOf(token: string): unknown {
  return decode(split(token)[0]).kid
}

describe("keychain", () => {
  test("start() makes a key when the store has none that can sign, and signs with it", async () => {
    const clock = manualClock(T0)
    const store = memoryStore({ clock })
    const retired = await saveKey(store, clock)
    await store.retireKey(retired.kid, T0)
    const { keys } = managed(store, clock)
    await keys.start()
    const listed = await store.listKeys()
    assert.equal(listed.length, 2)
    const made = listed.find((key) => key.retiredAt === null)
    assert.equal(made?.createdAt, T0, "dated by the clock")
    assert.equal(keys.signer().kid, made?.kid)
  })

  /** Two loads under way: the earlier read the keys before `newer` was saved, the later after. */
  async function overlapping(keys: Keychain, scripted: Scripted, clock: ManualClock) {
    scripted.holding = true
    let earlierDone = false
    const earlier = keys.has("not-yet").then(() => (earlierDone = true))
    await settle()
    const newer = await saveKey(scripted.store, clock)
    const later = keys.reloadForUnknownKid()
    await settle()
    return { newer, both: Promise.all([earlier, later]), earlierDone: () => earlierDone }
  }

  test("overlapping loads: an earlier one that answers last does not apply over the later", async () => {
    const clock = manualClock(T0)
    const scripted = scriptedKeys(clock)
    const { keys } = managed(scripted.store, clock)
    await keys.start()
    const { newer, both } = await overlapping(keys, scripted, clock)
    scripted.release("newest")
    await settle()
    assert.equal(keys.signer().kid, newer.kid)
    scripted.release()
    await both
    assert.equal(keys.signer().kid, newer.kid, "the earlier, stale answer did not apply")
  })

  test("overlapping loads: an earlier one that answers first resolves only once the later has applied", async () => {
    const clock = manualClock(T0)
    const scripted = scriptedKeys(clock)
    const { keys } = managed(scripted.store, clock)
    await keys.start()
    const first = keys.signer().kid
    const { newer, both, earlierDone } = await overlapping(keys, scripted, clock)
    scripted.release()
    await settle()
    assert.equal(earlierDone(), false, "waits for the later load")
    assert.equal(keys.signer().kid, first, "the earlier answer did not apply")
    scripted.release()
    await both
    assert.equal(keys.signer().kid, newer.kid)
  })

  test("an unknown kid reloads once for every caller, then not again until the interval has passed since it ended", async () => {
    const clock = manualClock(T0)
    const scripted = scriptedKeys(clock)
    const { keys } = managed(scripted.store, clock)
    await keys.start()
    const atStart = scripted.lists
    scripted.holding = true
    const reload = keys.reloadForUnknownKid()
    assert.ok(reload)
    assert.equal(keys.reloadForUnknownKid(), reload, "shared while it runs")
    await settle()
    clock.tick(5000)
    scripted.release()
    await reload
    assert.equal(scripted.lists, atStart + 1)
    clock.tick(UNKNOWN_KID_RELOAD_MS - 1)
    assert.equal(keys.reloadForUnknownKid(), undefined, "counted from the end of the reload, not its start")
    clock.tick(1)
    scripted.holding = false
    await keys.reloadForUnknownKid()
    assert.equal(scripted.lists, atStart + 2)
  })

  test("a failed reload, for an unknown kid or a keys change, is reported and leaves the ring; an unknown kid's still counts towards the interval", async () => {
    const clock = manualClock(T0)
    const scripted = scriptedKeys(clock)
    const { keys, events } = managed(scripted.store, clock)
    await keys.start()
    const ring = keys.ring
    const reported: unknown[] = []
    events.on("store-unavailable", (event) => reported.push(event.error))
    scripted.down = true
    await keys.reloadForUnknownKid()
    assert.equal(reported.length, 1)
    assert.equal(keys.ring, ring)
    assert.equal(keys.reloadForUnknownKid(), undefined)
    keys.changed()
    await settle()
    assert.equal(reported.length, 2, "nobody waits on the feed's reload: only the event tells of its failure")
    assert.equal(keys.ring, ring)
  })

  test("static keys never reload, not even on a keys change from the feed, and signing fails once every key that can sign is retired", async () => {
    const clock = manualClock(T0)
    const scripted = scriptedKeys(clock)
    const replica = new Replica()
    const stored = generateStoredKey("HS256", T0)
    const key = importStoredKey(stored)
    const keys = new Keychain({ store: scripted.store, staticKeys: [key], algorithm: "HS256", activationDelayMs: 0, clock, replica, events: new Events() })
    await keys.start()
    keys.changed()
    assert.equal(keys.reloadForUnknownKid(), undefined)
    assert.equal(await keys.has("other"), false)
    assert.equal(scripted.lists, 0)
    assert.equal(keys.signer().kid, key.kid)
    replica.add({ kind: "key", id: key.kid, subject: null, reason: null, actor: null, createdAt: T0, expiresAt: Date.UTC(2999, 11, 31), cutoff: 0 })
    assert.throws(() => keys.signer(), /every key that can sign is retired/)
    assert.deepEqual(keys.jwks(), { keys: [] }, "a shared secret is never listed")
  })

  test("a reload never makes a key: with every key retired, a keys change, an unknown kid and a lookup wait for the one the retiring instance makes", async () => {
    const clock = manualClock(T0)
    const store = memoryStore({ clock })
    const { keys } = managed(store, clock)
    await keys.start()
    // Another instance retired the key and has not saved its replacement yet: were every instance that reads
    // the keys now to make one, each would.
    await store.retireKey(keys.signer().kid, T0)
    keys.changed()
    await settle()
    await keys.reloadForUnknownKid()
    assert.equal(await keys.has("unknown"), false)
    assert.deepEqual((await store.listKeys()).filter((key) => key.retiredAt === null), [])
  })

  test("instances agree on the signing key among keys made in the same millisecond, whatever order their stores list them in", async () => {
    const clock = manualClock(T0)
    const base = memoryStore({ clock })
    for (let count = 0; count < 3; count++) await base.saveKey(generateStoredKey("HS256", T0))
    const reversed: Store = { ...base, listKeys: async () => (await base.listKeys()).reverse() }
    const one = managed(base, clock).keys
    const other = managed(reversed, clock).keys
    await Promise.all([one.start(), other.start()])
    assert.equal(one.signer().kid, other.signer().kid)
  })

  test("rotate() makes its key the signer at once, before any feed tells of it, even behind another instance's clock", async () => {
    const clock = manualClock(T0)
    const store = memoryStore({ clock })
    const { keys } = managed(store, clock)
    await keys.start()
    // Made by an instance whose clock runs ten seconds ahead of ours.
    await saveKey(store, clock, 10_000)
    const { kid } = await keys.rotate()
    assert.equal(keys.signer().kid, kid)
    assert.ok((await store.listKeys()).some((key) => key.kid === kid && key.retiredAt === null))
    await assert.rejects(keys.rotate({ alg: "HS256", secret: randomBytes(32) }), { name: "TypeError", message: /managed in the store: call rotateKey\(\) without a key/ })
  })

  test("rotate() publishes its key at once and signs with it only from its activation time, by itself, without a reload", async () => {
    const clock = manualClock(T0)
    const scripted = scriptedKeys(clock)
    const { keys } = managed(scripted.store, clock, new Replica(), 60_000)
    await keys.start()
    const old = keys.signer().kid
    const { kid, activatesAt } = await keys.rotate()
    assert.equal(activatesAt, T0 + 60_000)
    assert.deepEqual(keys.jwks(), { keys: [] }, "HS256 is never listed")
    assert.deepEqual(keys.ring.all().map((key) => key.kid), [kid, old], "held, the next key first")
    const lists = scripted.lists
    clock.tick(59_999)
    assert.equal(keys.signer().kid, old)
    clock.tick(1)
    assert.equal(keys.signer().kid, kid)
    assert.equal(scripted.lists, lists, "decided at sign time, from what was loaded")
  })

  test("rotate({ now: true }) signs at once, even over a key still waiting, which then never signs", async () => {
    const clock = manualClock(T0)
    const store = memoryStore({ clock })
    const { keys } = managed(store, clock, new Replica(), 60_000)
    await keys.start()
    const waiting = await keys.rotate()
    const emergency = await keys.rotate(undefined, { now: true })
    assert.equal(emergency.activatesAt, T0)
    assert.equal(keys.signer().kid, emergency.kid)
    clock.tick(60_000)
    assert.equal(keys.signer().kid, emergency.kid, "the newer key stays the signer")
    assert.ok(keys.ring.get(waiting.kid), "the other still verifies")
  })

  test("activation is read from the store's clock: an instance whose clock is behind switches when the store's time comes", async () => {
    const storeClock = manualClock(T0)
    const behind = manualClock(T0 - 5000)
    const store = memoryStore({ clock: storeClock })
    const { keys } = managed(store, behind, new Replica(), 60_000)
    await keys.start()
    const old = keys.signer().kid
    const { kid, activatesAt } = await keys.rotate()
    assert.equal(activatesAt, T0 + 60_000, "dated by the store")
    for (const clock of [storeClock, behind]) clock.tick(59_999)
    assert.equal(keys.signer().kid, old)
    for (const clock of [storeClock, behind]) clock.tick(1)
    assert.equal(keys.signer().kid, kid, "at the store's activation time, 5 s before this instance's clock reads it")
  })

  test("a read of the store's clock that answered late leaves the offset from it as it was", async () => {
    const clock = manualClock(T0)
    const base = memoryStore({ clock })
    let slow = false
    const store: Store = {
      ...base,
      async now() {
        const now = clock()
        if (slow) clock.tick(STORE_CLOCK_READ_MS + 1)
        return now
      },
    }
    const { keys } = managed(store, clock, new Replica(), 60_000)
    await keys.start()
    const old = keys.signer().kid
    const { kid } = await keys.rotate()
    slow = true
    await keys.reloadForUnknownKid()
    slow = false
    clock.tick(60_000 - (STORE_CLOCK_READ_MS + 1) - 1)
    assert.equal(keys.signer().kid, old)
    clock.tick(1)
    assert.equal(keys.signer().kid, kid)
  })

  test("keys from a store that keeps no activation time sign since their creation", async () => {
    const clock = manualClock(T0)
    const base = memoryStore({ clock })
    const store: Store = {
      ...base,
      listKeys: async () => (await base.listKeys()).map(({ activatesAt: _dropped, ...key }) => key as StoredKey),
    }
    await base.saveKey(generateStoredKey("HS256", T0, T0 + 3_600_000))
    const { keys } = managed(store, clock)
    await keys.start()
    assert.equal((await base.listKeys()).length, 1, "it can sign: no key was made")
    assert.equal(keys.signer().activatesAt, T0)
  })

  test("a key read a moment before its activation, with none active, still signs: the one that activates first", () => {
    const [later, sooner] = [generateStoredKey("HS256", T0 + 2, T0 + 20), generateStoredKey("HS256", T0 + 1, T0 + 10)].map((stored) => ({
      ...importStoredKey(stored),
      activatesAt: stored.activatesAt,
    }))
    const ring = new KeyRing([later!, sooner!])
    assert.equal(ring.signer(() => false, T0)?.kid, sooner!.kid)
    assert.equal(ring.signer((kid) => kid === sooner!.kid, T0)?.kid, later!.kid)
    assert.equal(ring.signer(() => false, T0 + 20)?.kid, later!.kid)
    assert.equal(ring.signer(() => true, T0 + 20), undefined)
  })

  test("retireKey() of the signer while the next key waits: a key that signs at once is made; the waiting one stays published", async () => {
    const clock = manualClock(T0)
    const store = memoryStore({ clock })
    const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store, clock, keyActivationDelay: "15m" })
    const old = kidOf((await auth.issue("alice")).accessToken) as string
    const next = await auth.rotateKey()
    await auth.retireKey(old)
    const made = kidOf((await auth.issue("alice")).accessToken)
    assert.ok(made !== old && made !== next.kid)
    assert.ok((await store.listKeys()).some((key) => key.kid === next.kid && key.retiredAt === null))
    await auth.close()
  })

  test("rotateKey() takes { now } or a key, and refuses anything else", async () => {
    const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store: memoryStore() })
    for (const wrong of [{ noww: true }, { now: "yes" }, "now", null]) {
      await assert.rejects(auth.rotateKey(wrong as never), { name: "TypeError", message: /\{ now: true \}/ })
    }
    assert.throws(() => createAuth({ issuer: "https://issuer.test", audience: "api", store: memoryStore(), keyActivationDelay: "-1s" }), TypeError)
    await auth.close()
  })

  test("retireKey() of the last key that signs: it is marked retired in the store, and a new key signs at once", async () => {
    const clock = manualClock(T0)
    const store = memoryStore({ clock })
    const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store, clock })
    const old = kidOf((await auth.issue("alice")).accessToken) as string
    clock.tick(1000)
    const retired = await auth.retireKey(old)
    const made = kidOf((await auth.issue("alice")).accessToken)
    assert.notEqual(made, old)
    assert.deepEqual((await store.listKeys()).map((key) => [key.kid, key.retiredAt]).sort(), [[old, retired.createdAt], [made, null]].sort())
    await auth.close()
  })

  test("retireKey() of a kid that is not a string is invalid_request without asking the store, even while it is down", async () => {
    const clock = manualClock(T0)
    const store = flakyStore(1000, clock)
    const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store, clock })
    await auth.ready()
    store.down = true
    for (const kid of [42, null, { toString: () => "kid" }]) await assert.rejects(auth.retireKey(kid as string), { code: "invalid_request" })
    store.down = false
    await auth.close()
  })

  test("static keys: rotateKey(key) signs with it, keeps the others, and replaces one of the same kid; retiring one writes nothing to the store", async () => {
    const store = memoryStore()
    const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store, keys: [{ kid: "k1", alg: "HS256", secret: randomBytes(32) }] })
    const first = (await auth.issue("alice")).accessToken
    assert.equal((await auth.rotateKey({ kid: "k2", alg: "HS256", secret: randomBytes(32) })).kid, "k2")
    const second = (await auth.issue("alice")).accessToken
    assert.equal(kidOf(second), "k2")
    assert.equal((await auth.verify(first)).sub, "alice", "k1 still verifies")
    await auth.rotateKey({ kid: "k1", alg: "HS256", secret: randomBytes(32) })
    const third = (await auth.issue("alice")).accessToken
    assert.equal(kidOf(third), "k1")
    assert.equal((await auth.verify(third)).sub, "alice")
    await assert.rejects(auth.verify(first), { code: "token_invalid" }, "the new k1 replaced the old")
    await assert.rejects(auth.rotateKey(), { name: "TypeError", message: /configured statically: pass the new key/ })
    await auth.retireKey("k1")
    assert.equal(kidOf((await auth.issue("alice")).accessToken), "k2")
    assert.equal((await auth.verify(second)).sub, "alice")
    assert.deepEqual(await store.listKeys(), [])
    await auth.close()
  })
})
