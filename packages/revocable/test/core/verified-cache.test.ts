// The cache of verified tokens (core/verified-cache.ts) on its own, and in verify(): a hit skips only the
// signature, so expiry, claims and every grain of revocation still refuse a cached token.
import assert from "node:assert/strict"
import crypto, { generateKeyPairSync, randomUUID } from "node:crypto"
import { syncBuiltinESMExports } from "node:module"
import { after, before, describe, test } from "node:test"
import { AuthError, createAuth, type Auth, type AuthErrorCode, type AuthOptions } from "../../src/index.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import { copyPayload, ENTRY_BYTES, holdPayload, VerifiedCache } from "../../src/core/verified-cache.ts"
import { manualClock } from "../helpers/clock.ts"
import { forge, signWith } from "../helpers/forge.ts"

const ISSUER = "https://issuer.test"
const AUDIENCE = "api"
const ed = generateKeyPairSync("ed25519")
const otherEd = generateKeyPairSync("ed25519")
const T0 = Date.UTC(2030, 0, 1)

/** Every Ed25519, ECDSA and RSA signature checked in this process: keys.ts calls node:crypto's verify. */
let signatureChecks = 0
const cryptoVerify = crypto.verify
before(() => {
  crypto.verify = ((...args: Parameters<typeof cryptoVerify>) => {
    signatureChecks++
    return cryptoVerify(...args)
  }) as typeof cryptoVerify
  syncBuiltinESMExports()
})

const opened: Auth[] = []
after(async () => {
  crypto.verify = cryptoVerify
  syncBuiltinESMExports()
  for (const auth of opened) await auth.close()
})

function makeAuth(options: Partial<AuthOptions> = {}): Auth {
  const auth = createAuth({ issuer: ISSUER, audience: AUDIENCE, store: memoryStore(), keys: [{ kid: "ed", alg: "EdDSA", privateKey: ed.privateKey }], ...options })
  opened.push(auth)
  return auth
}

/** How many signatures `run` checked. */
async function checksDuring(run: () => Promise<unknown>): Promise<number> {
  const start = signatureChecks
  await run()
  return signatureChecks - start
}

async function refused(auth: Auth, token: string, code: AuthErrorCode, options?: { type: "access" | "refresh" }): Promise<void> {
  await assert.rejects(auth.verify(token, options), (error: unknown) => {
    assert.ok(error instanceof AuthError, `expected an AuthError, got ${String(error)}`)
    assert.equal(error.code, code, error.message)
    return true
  })
}

/** Ed25519-signed access token with our header for kid "ed", and any claims. */
function edToken(claims: Record<string, unknown>, key = ed.privateKey, kid = "ed"): string {
  const now = Math.floor(Date.now() / 1000)
  const payload = { iss: ISSUER, sub: "alice", aud: AUDIENCE, iat: now, exp: now + 60, jti: randomUUID(), sid: "s1", gen: 0, ...claims }
  return forge({ alg: "EdDSA", kid, typ: "at+jwt" }, payload, signWith("EdDSA", key))
}

describe("verify() with the cache: a repeated token skips only its signature check", () => {
  test("a token presented again is not checked again; with verifyCache false, every time", async () => {
    const cached = makeAuth()
    const { accessToken } = await cached.issue("alice")
    assert.equal(await checksDuring(async () => {
      for (let i = 0; i < 5; i++) assert.equal((await cached.verify(accessToken)).sub, "alice")
    }), 1)
    const uncached = makeAuth({ verifyCache: false })
    const other = await uncached.issue("alice")
    assert.equal(await checksDuring(async () => {
      for (let i = 0; i < 5; i++) await uncached.verify(other.accessToken)
    }), 5)
  })

  test("a token revoked after it was cached is refused on the hit, at every grain", async () => {
    const auth = makeAuth()
    const byToken = await auth.issue("alice")
    const bySession = await auth.issue("bob")
    const bySubject = await auth.issue("carol")
    for (const pair of [byToken, bySession, bySubject]) await auth.verify(pair.accessToken)
    await auth.revoke(byToken.accessToken)
    await auth.revokeSession(bySession.sessionId)
    await auth.revokeSubject("carol")
    assert.equal(await checksDuring(async () => {
      for (const pair of [byToken, bySession, bySubject]) await refused(auth, pair.accessToken, "token_revoked")
    }), 0)
    await auth.unrevoke("token", JSON.parse(Buffer.from(byToken.accessToken.split(".")[1] as string, "base64url").toString()).jti)
    assert.equal((await auth.verify(byToken.accessToken)).sub, "alice")
  })

  test("the entry ends at the token's exp: within the leeway the token is checked at every call, then it is token_expired", async () => {
    const clock = manualClock(T0)
    const auth = makeAuth({ store: memoryStore({ clock }), clock, accessTtl: "60s", leeway: "10s" })
    const { accessToken } = await auth.issue("alice")
    assert.equal(await checksDuring(() => auth.verify(accessToken)), 1)
    clock.tick(59_999)
    assert.equal(await checksDuring(() => auth.verify(accessToken)), 0)
    clock.tick(1)
    assert.equal(await checksDuring(async () => {
      await auth.verify(accessToken)
      await auth.verify(accessToken)
    }), 2)
    clock.tick(10_000)
    await refused(auth, accessToken, "token_expired")
  })

  test("a token of a retired key is refused on the hit, and the key's tokens leave the cache", async () => {
    const auth = makeAuth({ keys: [{ kid: "ed", alg: "EdDSA", privateKey: ed.privateKey }, { kid: "old", alg: "EdDSA", privateKey: otherEd.privateKey }] })
    const first = edToken({ sub: "alice" }, otherEd.privateKey, "old")
    const second = edToken({ sub: "bob" }, otherEd.privateKey, "old")
    const current = edToken({ sub: "carol" })
    for (const token of [first, second, current]) await auth.verify(token)
    await auth.retireKey("old")
    assert.equal(await checksDuring(() => refused(auth, first, "token_revoked")), 0)
    // The first refusal dropped every token of the key: the second is checked again, then refused too.
    assert.equal(await checksDuring(() => refused(auth, second, "token_revoked")), 1)
    assert.equal(await checksDuring(() => auth.verify(current)), 0)
  })

  test("managed keys: retiring the key drops its tokens, and a reload that changes no key keeps them", async () => {
    const auth = makeAuth({ keys: undefined, algorithm: "EdDSA" })
    const { accessToken } = await auth.issue("alice")
    await auth.verify(accessToken)
    // A well-formed kid we do not hold makes the keys reload from the store: the same keys, new objects.
    await refused(auth, edToken({}, otherEd.privateKey, "unknown-kid"), "token_invalid")
    assert.equal(await checksDuring(() => auth.verify(accessToken)), 0)
    const { kid } = JSON.parse(Buffer.from(accessToken.split(".")[0] as string, "base64url").toString()) as { kid: string }
    await auth.retireKey(kid)
    assert.equal(await checksDuring(async () => {
      await refused(auth, accessToken, "token_revoked")
      await refused(auth, accessToken, "token_revoked")
    }), 2)
  })

  test("a static key replaced under the same kid: tokens of the old key material are refused, not served from the cache", async () => {
    const auth = makeAuth()
    const token = edToken({})
    await auth.verify(token)
    await auth.rotateKey({ kid: "ed", alg: "EdDSA", privateKey: otherEd.privateKey })
    await refused(auth, token, "token_invalid")
    const fresh = edToken({}, otherEd.privateKey)
    assert.equal((await auth.verify(fresh)).sub, "alice")
  })

  test("a rotation to another kid keeps the tokens of the keys still held", async () => {
    const auth = makeAuth()
    const token = edToken({})
    await auth.verify(token)
    await auth.rotateKey({ kid: "new", alg: "EdDSA", privateKey: otherEd.privateKey })
    assert.equal(await checksDuring(() => auth.verify(token)), 0)
  })

  test("a token differing from a cached one by one character, or a prefix or extension of it, never hits", async () => {
    const auth = makeAuth()
    const token = edToken({})
    await auth.verify(token)
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    const variants = [token.slice(0, -1), `${token}A`, `${token}.`, token.slice(1), ` ${token}`]
    for (let i = 0; i < token.length; i++) {
      if (token[i] === ".") continue
      const replacement = alphabet[(alphabet.indexOf(token[i] as string) + 1) % alphabet.length] as string
      variants.push(`${token.slice(0, i)}${replacement}${token.slice(i + 1)}`)
    }
    for (const variant of variants) {
      await assert.rejects(auth.verify(variant), (error: unknown) => error instanceof AuthError && ["token_invalid", "token_malformed"].includes(error.code), `accepted a variant at ${variants.indexOf(variant)}`)
    }
    assert.equal(await checksDuring(() => auth.verify(token)), 0)
  })

  test("the token type is checked on a hit", async () => {
    const auth = makeAuth()
    const { accessToken } = await auth.issue("alice")
    await auth.verify(accessToken)
    await refused(auth, accessToken, "wrong_token_type", { type: "refresh" })
  })

  test("refresh tokens are not cached: each is presented once", async () => {
    const auth = makeAuth()
    const { refreshToken } = await auth.issue("alice")
    assert.equal(await checksDuring(async () => {
      await auth.verify(refreshToken, { type: "refresh" })
      await auth.verify(refreshToken, { type: "refresh" })
    }), 2)
  })

  test("every call gets claims of its own: changing them does not change the next call's, flat or nested", async () => {
    const auth = makeAuth()
    const flat = edToken({ role: "member" })
    const nested = edToken({ roles: ["member"], profile: { name: "Alice" } })
    for (const token of [flat, nested]) {
      const first = await auth.verify(token)
      first.sub = "mallory"
      first.exp = 4_000_000_000
      first.role = "admin"
      if (Array.isArray(first.roles)) first.roles.push("admin")
      if (first.profile) (first.profile as { name: string }).name = "Mallory"
      const again = await auth.verify(token)
      assert.equal(again.sub, "alice")
      assert.notEqual(again.exp, 4_000_000_000)
      assert.notEqual(again.role, "admin")
      assert.notStrictEqual(again, first)
    }
    assert.deepEqual((await auth.verify(nested)).roles, ["member"])
    assert.deepEqual((await auth.verify(nested)).profile, { name: "Alice" })
    assert.equal((await auth.verify(flat)).role, "member")
  })

  test("the bounds hold: with room for two tokens, a third evicts one not looked up since", async () => {
    const auth = makeAuth({ verifyCache: { entries: 2 } })
    const [a, b, c] = [edToken({ sub: "a" }), edToken({ sub: "b" }), edToken({ sub: "c" })] as [string, string, string]
    await auth.verify(a)
    await auth.verify(b)
    await auth.verify(a)
    await auth.verify(c)
    assert.equal(await checksDuring(() => auth.verify(a)), 0)
    assert.equal(await checksDuring(() => auth.verify(c)), 0)
    assert.equal(await checksDuring(() => auth.verify(b)), 1)
  })

  test("the byte bound holds: a budget under one token's size keeps none", async () => {
    const token = edToken({})
    const auth = makeAuth({ verifyCache: { bytes: ENTRY_BYTES + 2 * token.length - 1 } })
    assert.equal(await checksDuring(async () => {
      await auth.verify(token)
      await auth.verify(token)
    }), 2)
    const roomy = makeAuth({ verifyCache: { bytes: ENTRY_BYTES + 2 * token.length } })
    assert.equal(await checksDuring(async () => {
      await roomy.verify(token)
      await roomy.verify(token)
    }), 1)
  })
})

describe("the verifyCache option", () => {
  test("false, or an object of positive integers, is accepted", () => {
    const accepted: AuthOptions["verifyCache"][] = [false, {}, { entries: 1 }, { bytes: 1 }, { entries: 10, bytes: 100_000 }]
    for (const verifyCache of accepted) makeAuth({ verifyCache })
  })

  test("anything else is a TypeError at construction", () => {
    const cases: [unknown, RegExp][] = [
      [true, /^Option verifyCache must be false or an object \{ entries, bytes \}\.$/],
      [null, /^Option verifyCache must be false/],
      [0, /^Option verifyCache must be false/],
      ["on", /^Option verifyCache must be false/],
      [[], /^Option verifyCache must be false/],
      [{ entries: 0 }, /^Option verifyCache\.entries must be a positive integer\.$/],
      [{ entries: -1 }, /^Option verifyCache\.entries must be a positive integer\.$/],
      [{ entries: 1.5 }, /^Option verifyCache\.entries must be a positive integer\.$/],
      [{ entries: "10" }, /^Option verifyCache\.entries must be a positive integer\.$/],
      [{ entries: Number.POSITIVE_INFINITY }, /^Option verifyCache\.entries must be a positive integer\.$/],
      [{ bytes: 0 }, /^Option verifyCache\.bytes must be a positive integer\.$/],
      [{ bytes: Number.NaN }, /^Option verifyCache\.bytes must be a positive integer\.$/],
      [{ bytes: 2 ** 60 }, /^Option verifyCache\.bytes must be a positive integer\.$/],
    ]
    for (const [verifyCache, message] of cases) {
      assert.throws(() => createAuth({ issuer: ISSUER, audience: AUDIENCE, store: memoryStore(), verifyCache } as AuthOptions), (error: unknown) => {
        assert.ok(error instanceof TypeError, String(error))
        assert.match(error.message, message, JSON.stringify(verifyCache))
        return true
      })
    }
  })
})

describe("VerifiedCache", () => {
  const LIMITS = { entries: 100, bytes: 1_000_000 }

  test("holds a value until its expiry, and nothing already past it", () => {
    const cache = new VerifiedCache<string>(LIMITS)
    cache.set("t1", "k", "one", 1000, 0)
    assert.equal(cache.get("t1", 999), "one")
    assert.equal(cache.get("t1", 1000), undefined)
    assert.equal(cache.size, 0)
    assert.equal(cache.bytes, 0)
    cache.set("t2", "k", "two", 1000, 1000)
    cache.set("t3", "k", "three", Number.NaN, 0)
    assert.equal(cache.size, 0)
    assert.equal(cache.get("t2", 0), undefined)
  })

  test("counts each entry as ENTRY_BYTES plus twice its token's length, and gives the bytes back", () => {
    const cache = new VerifiedCache<number>(LIMITS)
    cache.set("abcd", "k", 1, 10, 0)
    cache.set("xy", "j", 2, 10, 0)
    assert.equal(cache.bytes, 2 * ENTRY_BYTES + 12)
    cache.set("abcd", "k", 3, 10, 0)
    assert.equal(cache.bytes, 2 * ENTRY_BYTES + 12)
    assert.equal(cache.get("abcd", 0), 3)
    cache.dropKey("k")
    assert.equal(cache.bytes, ENTRY_BYTES + 4)
    assert.equal(cache.get("xy", 9), 2)
    assert.equal(cache.get("xy", 10), undefined)
    assert.equal(cache.bytes, 0)
  })

  test("never holds more entries than allowed, nor more bytes", () => {
    const cache = new VerifiedCache<number>({ entries: 3, bytes: 3 * (ENTRY_BYTES + 2) })
    for (let i = 0; i < 10; i++) cache.set(String(i), "k", i, 10, 0)
    assert.equal(cache.size, 3)
    assert.deepEqual([7, 8, 9].map((i) => cache.get(String(i), 0)), [7, 8, 9])
    const bytes = new VerifiedCache<number>({ entries: 100, bytes: 2 * ENTRY_BYTES + 20 })
    bytes.set("aaaaa", "k", 1, 10, 0)
    bytes.set("bbbbb", "k", 2, 10, 0)
    assert.equal(bytes.size, 2)
    bytes.set("c", "k", 3, 10, 0)
    assert.equal(bytes.size, 2)
    assert.ok(bytes.bytes <= 2 * ENTRY_BYTES + 20)
    assert.equal(bytes.get("aaaaa", 0), undefined)
    assert.equal(bytes.get("c", 0), 3)
  })

  test("keeps nothing larger than its whole byte budget, and nothing with no entries allowed", () => {
    const small = new VerifiedCache<number>({ entries: 10, bytes: ENTRY_BYTES + 7 })
    small.set("abcd", "k", 1, 10, 0)
    assert.equal(small.size, 0)
    small.set("abc", "k", 1, 10, 0)
    assert.equal(small.size, 1)
    const none = new VerifiedCache<number>({ entries: 0, bytes: 1000 })
    none.set("a", "k", 1, 10, 0)
    assert.equal(none.size, 0)
  })

  test("evicts, from the oldest, an entry not looked up since the hand passed, or an expired one", () => {
    const cache = new VerifiedCache<string>({ entries: 3, bytes: 1_000_000 })
    cache.set("a", "k", "a", 100, 0)
    cache.set("b", "k", "b", 100, 0)
    cache.set("c", "k", "c", 100, 0)
    cache.get("a", 0)
    cache.get("b", 0)
    cache.set("d", "k", "d", 100, 0)
    assert.deepEqual(["a", "b", "c", "d"].map((token) => cache.get(token, 0)), ["a", "b", undefined, "d"])
    // Every entry looked up: a whole pass spares them all, the next takes the oldest.
    cache.set("e", "k", "e", 100, 0)
    assert.deepEqual(["a", "b", "d", "e"].map((token) => cache.get(token, 0) !== undefined), [false, true, true, true])
    // A looked-up entry whose exp has come (60, now 60) is not spared: it goes before one never looked up.
    const expiring = new VerifiedCache<string>({ entries: 2, bytes: 1_000_000 })
    expiring.set("old", "k", "old", 60, 0)
    expiring.set("unused", "k", "unused", 100, 0)
    expiring.get("old", 0)
    expiring.set("next", "k", "next", 100, 60)
    assert.deepEqual(["unused", "next"].map((token) => expiring.get(token, 60)), ["unused", "next"])
  })

  test("drops every token of a key, and lists the kids it holds", () => {
    const cache = new VerifiedCache<number>(LIMITS)
    cache.set("a", "k1", 1, 10, 0)
    cache.set("b", "k1", 2, 10, 0)
    cache.set("c", "k2", 3, 10, 0)
    assert.deepEqual([...cache.kids()], ["k1", "k2"])
    cache.dropKey("k1")
    cache.dropKey("absent")
    assert.deepEqual([cache.get("a", 0), cache.get("b", 0), cache.get("c", 0)], [undefined, undefined, 3])
    assert.deepEqual([...cache.kids()], ["k2"])
    cache.get("c", 10)
    assert.deepEqual([...cache.kids()], [])
    cache.set("d", "k3", 4, 10, 0)
    cache.clear()
    assert.deepEqual([cache.size, cache.bytes, [...cache.kids()]], [0, 0, []])
    assert.equal(cache.get("d", 0), undefined)
  })

  test("a key's remaining tokens stay listed under it after one of them goes", () => {
    const cache = new VerifiedCache<number>(LIMITS)
    cache.set("a", "k", 1, 10, 0)
    cache.set("b", "k", 2, 20, 0)
    assert.equal(cache.get("a", 15), undefined)
    cache.dropKey("k")
    assert.equal(cache.get("b", 15), undefined)
    assert.equal(cache.bytes, 0)
  })

  test("its limits are its own copy", () => {
    const limits = { entries: 1, bytes: 1000 }
    const cache = new VerifiedCache<number>(limits)
    limits.entries = 10
    cache.set("a", "k", 1, 10, 0)
    cache.set("b", "k", 2, 10, 0)
    assert.equal(cache.size, 1)
  })
})

describe("held payloads", () => {
  test("a flat payload is held as a copy and handed out as a new copy each time", () => {
    const payload: Record<string, unknown> = { sub: "alice", n: 1, none: null, yes: true }
    const held = holdPayload(payload, () => assert.fail("a flat payload needs no text"))
    payload.sub = "mallory"
    const copy = copyPayload(held)
    assert.deepEqual(copy, { sub: "alice", n: 1, none: null, yes: true })
    copy.sub = "eve"
    assert.equal(copyPayload(held).sub, "alice")
  })

  test("a payload holding an object or an array is held as its text and parsed again each time", () => {
    for (const payload of [{ roles: ["a"] }, { profile: { name: "Alice" } }]) {
      const text = JSON.stringify(payload)
      const held = holdPayload(payload, () => text)
      assert.equal(held, text)
      const first = copyPayload(held)
      assert.deepEqual(first, payload)
      assert.notStrictEqual(copyPayload(held), first)
    }
  })

  test("__proto__ stays an own claim, as JSON.parse makes it", () => {
    const payload = JSON.parse('{"__proto__":"x","sub":"alice"}') as Record<string, unknown>
    const copy = copyPayload(holdPayload(payload, () => assert.fail("flat")))
    assert.ok(Object.hasOwn(copy, "__proto__"))
    assert.equal(Object.getPrototypeOf(copy), Object.prototype)
  })
})
