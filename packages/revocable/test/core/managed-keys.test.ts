// Managed keys across instances: a key made on one instance is honoured on another before its feed says so,
// made-up kids cannot make every verify read the store, and instances starting together converge on one key.
import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { randomBytes, randomUUID } from "node:crypto"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, describe, test } from "node:test"
import { createAuth, type Auth, type Store } from "../../src/index.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import { sqliteStore } from "../../src/stores/sqlite/index.ts"
import type { ChangeEvent, ChangeListener, Clock } from "../../src/core/store.ts"
import { manualClock } from "../helpers/clock.ts"
import { decode, forge, hs256, split } from "../helpers/forge.ts"

const ISSUER = "https://issuer.test"
const AUDIENCE = "api"
const T0 = Date.UTC(2026, 0, 15)
/** The reload limit in keychain.ts (UNKNOWN_KID_RELOAD_MS). */
const RELOAD_INTERVAL_MS = 1000

const dir = mkdtempSync(join(tmpdir(), "revocable-managed-keys-"))
const opened: Auth[] = []
after(async () => {
  for (const auth of opened) await auth.close()
  rmSync(dir, { recursive: true, force: true })
})

function makeAuth(store: Store, clock?: Clock): Auth {
  const auth = createAuth({ issuer: ISSUER, audience: AUDIENCE, store, clock })
  opened.push(auth)
  return auth
}

interface View {
  /** The store as one instance sees it. */
  store: Store
  /** listKeys() calls made through this view. */
  listKeys: number
  /** Delivers the `keys` changes held back so far. */
  release(): void
}

/**
 * One instance's view of a shared store whose feed is slow for keys: `keys` changes wait until released, the
 * others pass at once. With `firstListAnswered`, the first listKeys() reads the store when called but answers
 * only once that settles: an instance that read the keys and then stalled, to order a start-up race.
 */
function slowKeysFeed(base: Store, firstListAnswered?: () => Promise<void>): View {
  const held: ChangeEvent[] = []
  let listener: ChangeListener = () => undefined
  const view: View = {
    listKeys: 0,
    store: {
      ...base,
      async listKeys() {
        const keys = await base.listKeys()
        if (++view.listKeys === 1 && firstListAnswered) await firstListAnswered()
        return keys
      },
      subscribe(next) {
        listener = next
        return base.subscribe((event) => (event.type === "keys" ? held.push(event) : listener(event)))
      },
    },
    release() {
      for (const event of held.splice(0)) listener(event)
    },
  }
  return view
}

/**
 * Releases the held `keys` changes and lets the reloads they start finish: the memory store answers without
 * I/O, so once the microtask queue has drained (one turn of the event loop) they have.
 */
async function release(...views: View[]): Promise<void> {
  for (const view of views) view.release()
  await new Promise(setImmediate)
}

function kidOf(token: string): string {
  return decode(split(token)[0]).kid as string
}

async function signingKid(auth: Auth): Promise<string> {
  return kidOf((await auth.issue("alice")).accessToken)
}

/** A token whose kid no instance has, signed with a key nobody holds, issued at `at` (ms). */
function madeUpKid(at: number, kid: string = randomBytes(12).toString("base64url")): string {
  const now = Math.floor(at / 1000)
  const claims = { iss: ISSUER, sub: "mallory", aud: AUDIENCE, iat: now, exp: now + 60, jti: randomUUID(), sid: "s", gen: 0 }
  return forge({ alg: "HS256", kid, typ: "at+jwt" }, claims, hs256(randomBytes(32)))
}

// Keys rotated with { now: true }, as in an emergency: they sign at once, before other instances have heard of them.
describe("a key made on another instance", () => {
  test("is honoured at once, before the feed tells of it: verify, refresh, revoke and retireKey", async () => {
    const clock = manualClock(T0)
    const base = memoryStore({ clock })
    const a = makeAuth(base, clock)
    const viewB = slowKeysFeed(base)
    const b = makeAuth(viewB.store, clock)
    await a.ready()
    await b.ready()
    const before = await signingKid(b)
    clock.tick(1000)
    const { kid } = await a.rotateKey({ now: true })
    const pair = await a.issue("alice")
    assert.equal(kidOf(pair.accessToken), kid)
    assert.equal((await b.verify(pair.accessToken)).sub, "alice")
    assert.equal(await signingKid(b), kid, "the reload also made the new key current here")
    assert.equal((await b.verify((await b.refresh(pair.refreshToken)).accessToken)).sub, "alice")

    const second = await a.rotateKey({ now: true })
    const other = await a.issue("bob")
    clock.tick(RELOAD_INTERVAL_MS)
    assert.notEqual(await b.revoke(other.accessToken), null, "revoke() reloads too, rather than call the token not ours")
    await assert.rejects(a.verify(other.accessToken), { code: "token_revoked" })
    const third = await a.rotateKey({ now: true })
    await b.retireKey(third.kid)
    assert.deepEqual(b.jwks().keys.map((key) => key.kid).sort(), [before, kid, second.kid].sort())
  })

  test("is refused, and never signs, when it was retired before this instance heard of it", async () => {
    const clock = manualClock(T0)
    const base = memoryStore({ clock })
    const a = makeAuth(base, clock)
    const viewB = slowKeysFeed(base)
    const b = makeAuth(viewB.store, clock)
    await a.ready()
    await b.ready()
    const atStart = viewB.listKeys
    const first = await signingKid(a)
    clock.tick(1000)
    const { kid } = await a.rotateKey({ now: true })
    const token = (await a.issue("alice")).accessToken
    await a.retireKey(kid)
    await assert.rejects(b.verify(token), { code: "token_revoked" })
    assert.equal(viewB.listKeys, atStart + 1, "the unknown kid reloaded the keys once")
    assert.equal(await signingKid(b), first)
    await release(viewB)
    assert.equal(await signingKid(b), first)
  })

  test("on one SQLite file, is honoured by the other store object before its poll", async () => {
    const clock = manualClock(T0)
    const path = join(dir, "shared.db")
    // A poll interval that never fires in this test: only the reload can bring the new key in.
    const a = makeAuth(sqliteStore({ path, pollInterval: 3_600_000 }), clock)
    const b = makeAuth(sqliteStore({ path, pollInterval: 3_600_000 }), clock)
    await a.ready()
    await b.ready()
    assert.equal(await signingKid(b), await signingKid(a))
    clock.tick(1000)
    const { kid } = await a.rotateKey({ now: true })
    const pair = await a.issue("alice")
    assert.equal((await b.verify(pair.accessToken)).sub, "alice")
    assert.equal(await signingKid(b), kid)
  })
})

describe("an unknown kid", () => {
  test("reloads the keys at most once per interval, one reload shared by concurrent verifies", async () => {
    const clock = manualClock(T0)
    const view = slowKeysFeed(memoryStore({ clock }))
    const auth = makeAuth(view.store, clock)
    await auth.ready()
    const atStart = view.listKeys
    const refuseAll = (count: number) =>
      Promise.all(Array.from({ length: count }, () => assert.rejects(auth.verify(madeUpKid(clock())), { code: "token_invalid" })))
    await refuseAll(50)
    assert.equal(view.listKeys, atStart + 1)
    await refuseAll(50)
    clock.tick(RELOAD_INTERVAL_MS - 1)
    await refuseAll(50)
    assert.equal(await auth.revoke(madeUpKid(clock())), null)
    assert.equal(view.listKeys, atStart + 1, "no reload within the interval")
    clock.tick(1)
    await refuseAll(50)
    assert.equal(view.listKeys, atStart + 2)
  })

  test("only a well-formed kid in an otherwise acceptable header reloads: hostile kids never reach the store", async () => {
    const clock = manualClock(T0)
    const view = slowKeysFeed(memoryStore({ clock }))
    const auth = makeAuth(view.store, clock)
    await auth.ready()
    const atStart = view.listKeys
    for (const kid of ["../../../../etc/passwd", "' OR '1'='1", "hs\u0000", "k".repeat(129), "", " hs"]) {
      await assert.rejects(auth.verify(madeUpKid(clock(), kid)), { code: "token_invalid" })
    }
    const now = Math.floor(clock() / 1000)
    const claims = { iss: ISSUER, sub: "mallory", aud: AUDIENCE, iat: now, exp: now + 60, jti: randomUUID(), sid: "s", gen: 0 }
    const headers = [
      { alg: "none", kid: "unknown", typ: "at+jwt" },
      { alg: "HS256", kid: "unknown", typ: "JWT" },
      { alg: "HS256", kid: "unknown" },
      { alg: "HS256", kid: "unknown", typ: "at+jwt", crit: ["exp"] },
    ]
    for (const header of headers) await assert.rejects(auth.verify(forge(header, claims, hs256(randomBytes(32)))), { code: "token_invalid" })
    assert.equal(view.listKeys, atStart)
  })

  test("with static keys is refused at once, without a reload", async () => {
    const view = slowKeysFeed(memoryStore())
    const auth = createAuth({ issuer: ISSUER, audience: AUDIENCE, store: view.store, keys: [{ alg: "HS256", secret: randomBytes(32) }] })
    opened.push(auth)
    await auth.ready()
    await assert.rejects(auth.verify(madeUpKid(Date.now())), { code: "token_invalid" })
    assert.equal(view.listKeys, 0)
  })
})

describe("instances starting together on an empty store", () => {
  /** Each signs, each verifies the other's token, and then both sign with the same kid. */
  async function converge(a: Auth, b: Auth): Promise<string> {
    const fromA = await a.issue("alice")
    const fromB = await b.issue("bob")
    assert.equal((await b.verify(fromA.accessToken)).sub, "alice")
    assert.equal((await a.verify(fromB.accessToken)).sub, "bob")
    const kid = await signingKid(a)
    assert.equal(await signingKid(b), kid)
    return kid
  }

  test("both saving before either reads the keys again: they sign with the same kid at once", async () => {
    const clock = manualClock(T0)
    const base = memoryStore({ clock })
    const viewA = slowKeysFeed(base)
    const viewB = slowKeysFeed(base)
    const a = makeAuth(viewA.store, clock)
    const b = makeAuth(viewB.store, clock)
    await Promise.all([a.ready(), b.ready()])
    assert.equal((await base.listKeys()).length, 2, "each saved a key")
    assert.equal(await signingKid(a), await signingKid(b))
    await converge(a, b)
    await release(viewA, viewB)
    assert.equal(await signingKid(a), await signingKid(b))
    assert.deepEqual(a.jwks(), b.jwks())
  })

  /**
   * B reads the empty store with A, stalls until A has saved its key, read the keys again and started, then
   * makes its own key a millisecond later: A signs with its key, B with its newer one, until they meet.
   */
  async function staleStart(): Promise<{ a: Auth; b: Auth; viewA: View; viewB: View }> {
    const clock = manualClock(T0)
    const base = memoryStore({ clock })
    const viewA = slowKeysFeed(base)
    const a = makeAuth(viewA.store, clock)
    const aReady = a.ready()
    const viewB = slowKeysFeed(base, async () => {
      await aReady
      clock.tick(1)
    })
    const b = makeAuth(viewB.store, clock)
    await Promise.all([aReady, b.ready()])
    assert.equal((await base.listKeys()).length, 2, "each saved a key")
    assert.notEqual(await signingKid(a), await signingKid(b), "the case under test: they start apart")
    return { a, b, viewA, viewB }
  }

  test("one ready before the other saves: the first token each is shown brings them to the same kid", async () => {
    const { a, b, viewA, viewB } = await staleStart()
    const kid = await converge(a, b)
    await release(viewA, viewB)
    assert.equal(await signingKid(a), kid)
    assert.equal(await signingKid(b), kid)
    assert.deepEqual(a.jwks(), b.jwks())
  })

  test("one ready before the other saves: the feed alone brings them to the same kid", async () => {
    const { a, b, viewA, viewB } = await staleStart()
    await release(viewA, viewB)
    assert.equal(await signingKid(a), await signingKid(b))
    assert.deepEqual(a.jwks(), b.jwks())
    await converge(a, b)
  })

  test("on one SQLite file, two store objects end up signing with the same kid", async () => {
    const path = join(dir, "race.db")
    const a = makeAuth(sqliteStore({ path, pollInterval: 3_600_000 }))
    const b = makeAuth(sqliteStore({ path, pollInterval: 3_600_000 }))
    await Promise.all([a.ready(), b.ready()])
    await converge(a, b)
  })
})
