// createAuth validates its options at construction: every mistake is a TypeError then, before any I/O.
import assert from "node:assert/strict"
import { createSecretKey, generateKeyPairSync, randomBytes } from "node:crypto"
import { after, describe, test } from "node:test"
import { createAuth, type Auth, type AuthOptions, type KeyInput, type Store } from "../../src/index.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import { sqliteStore } from "../../src/stores/sqlite/index.ts"

const ed = generateKeyPairSync("ed25519")
const opened: Auth[] = []
after(async () => {
  for (const auth of opened) await auth.close()
})

function base(): AuthOptions {
  return { issuer: "https://issuer.test", audience: "api", store: memoryStore() }
}

/** createAuth throws a TypeError, synchronously, whose message matches and quotes no secret. */
function refused(overrides: Record<string, unknown>, message: RegExp, secret?: string): void {
  const options = { ...base(), ...overrides } as AuthOptions
  assert.throws(
    () => createAuth(options),
    (error: unknown) => {
      assert.ok(error instanceof TypeError, `expected a TypeError, got ${String(error)}`)
      assert.match(error.message, message)
      if (secret !== undefined) assert.ok(!error.message.includes(secret), "the message quotes the secret")
      return true
    },
    JSON.stringify(overrides, (_key, value: unknown) => (typeof value === "number" && !Number.isFinite(value) ? String(value) : value)),
  )
}

function accepted(overrides: Record<string, unknown>): Auth {
  const auth = createAuth({ ...base(), ...overrides } as AuthOptions)
  opened.push(auth)
  return auth
}

function keys(...list: unknown[]): { keys: unknown[] } {
  return { keys: list }
}

describe("createAuth refuses bad options at construction", () => {
  test("durations that do not parse, are negative, non-finite or NaN", () => {
    const options = ["accessTtl", "refreshTtl", "sessionTtl", "idleTimeout", "leeway", "reuseGrace", "maxStaleness", "purgeInterval"]
    const bad = ["", "abc", "15", "15 minutes", "-1s", "- 1s", "1e3s", "15M", "15mm", "s", ".5s", "1,5s", "0x10s", "Infinitys", `${"9".repeat(400)}s`, Number.NaN, -1, -0.001, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, {}, [], true, "15m; DROP"]
    for (const option of options) {
      for (const value of bad) refused({ [option]: value }, new RegExp(`^Option ${option} must be`))
    }
  })

  test("leeway NaN or negative, in any form", () => {
    for (const leeway of [Number.NaN, -1, -30, "-30s", "NaN", "NaNs", Number.NEGATIVE_INFINITY]) refused({ leeway }, /^Option leeway must be a non-negative duration/)
  })

  test("token, session and purge intervals under one second or not whole seconds; a purge interval beyond the timer range", () => {
    for (const option of ["accessTtl", "refreshTtl", "sessionTtl", "idleTimeout", "purgeInterval"]) {
      for (const value of [0, "0s", "999ms", 0.5, "1500ms", 1.5]) refused({ [option]: value }, new RegExp(`^Option ${option} must be a whole number of seconds`))
    }
    for (const purgeInterval of ["25d", "30d", 2 ** 31]) refused({ purgeInterval }, /^Option purgeInterval must be at most 24 days/)
  })

  test("an HMAC secret that is missing, empty or under 32 bytes, in any form, without quoting it", () => {
    const short = "s3cr3t-but-only-31-bytes-long!!"
    assert.equal(Buffer.byteLength(short), 31)
    for (const secret of ["", Buffer.alloc(0), short, Buffer.from(short), new Uint8Array(31), createSecretKey(Buffer.from(short)), "é".repeat(15)]) {
      refused(keys({ alg: "HS256", secret }), /at least 32 bytes/, typeof secret === "string" && secret !== "" ? secret : undefined)
    }
    refused(keys({ alg: "HS256" }), /needs a secret/)
    refused(keys({ alg: "HS256", privateKey: ed.privateKey }), /needs a secret/)
    for (const secret of [12345678901234, { k: "secret" }, ["a".repeat(32)], null, true]) {
      refused(keys({ alg: "HS256", secret }), /^An HS256 secret must be a string, a Uint8Array or a secret KeyObject/, "12345678901234")
    }
    refused(keys({ alg: "HS256", secret: ed.privateKey }), /must be a secret key/)
    refused(keys({ alg: "HS256", secret: ed.publicKey }), /must be a secret key/)
  })

  test("an unknown algorithm, for managed keys or for a key", () => {
    for (const algorithm of ["RS512", "none", "hs256", "eddsa", "", "Ed25519", 256]) refused({ algorithm }, /^Option algorithm must be one of EdDSA, ES256, RS256, PS256, HS256/)
    for (const alg of ["HS512", "none", "NONE", "eddsa", "ES384", "", undefined]) {
      refused(keys({ alg, secret: randomBytes(32), privateKey: ed.privateKey }), /^Unsupported key algorithm/)
    }
  })

  test("a missing or incomplete store", () => {
    const { store: _, ...noStore } = base()
    assert.throws(() => createAuth(noStore as AuthOptions), /^TypeError: Option store is required/)
    const incomplete = { ...memoryStore(), rotate: undefined }
    for (const store of [null, undefined, {}, "memory", incomplete, () => memoryStore()]) refused({ store }, /^Option store is required/)
  })

  test("a bad maxSessions", () => {
    for (const limit of [0, -1, 1.5, Number.NaN, "5", null, Number.POSITIVE_INFINITY, 2 ** 53]) {
      refused({ maxSessions: { limit, onExceed: "reject" } }, /^Option maxSessions.limit must be a positive integer/)
    }
    for (const onExceed of [undefined, "drop", "REJECT", "evict_oldest", null]) {
      refused({ maxSessions: { limit: 5, onExceed } }, /^Option maxSessions.onExceed must be/)
    }
    for (const maxSessions of [5, "5", true]) refused({ maxSessions }, /^Option maxSessions.limit/)
  })

  test("an RSA key under 2048 bits", () => {
    const small = generateKeyPairSync("rsa", { modulusLength: 1024 })
    const almost = generateKeyPairSync("rsa", { modulusLength: 2040 })
    for (const alg of ["RS256", "PS256"]) {
      for (const key of [small, almost]) {
        refused(keys({ alg, privateKey: key.privateKey }), new RegExp(`^A ${alg} key must be an RSA key of 2048 bits or more`))
        refused(keys({ alg, privateKey: key.privateKey.export({ format: "jwk" }) }), /2048 bits or more/)
        refused(keys({ alg: "EdDSA", privateKey: ed.privateKey }, { alg, publicKey: key.publicKey }), /2048 bits or more/)
      }
    }
  })

  test("a key of the wrong type for its algorithm", () => {
    const pairs = {
      ed25519: generateKeyPairSync("ed25519"),
      ed448: generateKeyPairSync("ed448"),
      x25519: generateKeyPairSync("x25519"),
      p256: generateKeyPairSync("ec", { namedCurve: "prime256v1" }),
      p384: generateKeyPairSync("ec", { namedCurve: "secp384r1" }),
      k256: generateKeyPairSync("ec", { namedCurve: "secp256k1" }),
      rsa: generateKeyPairSync("rsa", { modulusLength: 2048 }),
      pss: generateKeyPairSync("rsa-pss", { modulusLength: 2048 }),
    }
    const wrong: [string, keyof typeof pairs, RegExp][] = [
      ["EdDSA", "ed448", /^A EdDSA key must be an Ed25519 key/],
      ["EdDSA", "x25519", /Ed25519/],
      ["EdDSA", "p256", /Ed25519/],
      ["EdDSA", "rsa", /Ed25519/],
      ["ES256", "p384", /^A ES256 key must be a P-256 key/],
      ["ES256", "k256", /P-256/],
      ["ES256", "ed25519", /P-256/],
      ["ES256", "rsa", /P-256/],
      ["RS256", "p256", /RSA key/],
      ["RS256", "ed25519", /RSA key/],
      ["RS256", "pss", /RSA key/],
      ["PS256", "p256", /RSA key/],
    ]
    for (const [alg, pair, message] of wrong) {
      refused(keys({ alg, privateKey: pairs[pair].privateKey }), message)
      refused(keys({ alg: "EdDSA", privateKey: ed.privateKey }, { alg, publicKey: pairs[pair].publicKey }), message)
    }
    refused(keys({ alg: "EdDSA", secret: randomBytes(32) }), /takes privateKey or publicKey, not a secret/)
    refused(keys({ alg: "EdDSA" }), /needs a privateKey or a publicKey/)
    refused(keys({ alg: "EdDSA", privateKey: ed.publicKey }), /Expected a private key, got a public key/)
    refused(keys({ alg: "EdDSA", privateKey: createSecretKey(randomBytes(32)) }), /Expected a private key, got a secret key/)
    refused(keys({ alg: "EdDSA", publicKey: ed.privateKey }), /Expected a public key, got a private key/)
    refused(keys({ alg: "EdDSA", privateKey: "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n" }), /could not be read/)
    refused(keys({ alg: "EdDSA", privateKey: { kty: "OKP", crv: "Ed25519", x: "AAAA" } }), /could not be read/)
  })

  test("bad key lists and kids", () => {
    for (const list of [[], "keys", {}, null]) refused({ keys: list }, /^Option keys must be a non-empty array/)
    refused(keys({ alg: "EdDSA", publicKey: ed.publicKey }), /at least one key that can sign/)
    refused(keys({ kid: "k", alg: "EdDSA", privateKey: ed.privateKey }, { kid: "k", alg: "HS256", secret: randomBytes(32) }), /share the kid/)
    for (const kid of ["", "a b", "../etc/passwd", "k\u0000", "é", "k".repeat(129), 42]) {
      refused(keys({ kid, alg: "EdDSA", privateKey: ed.privateKey }), /^A kid must be 1 to 128 characters/)
    }
    for (const entry of [null, "key", 42]) refused(keys(entry), /^Each key must be an object/)
  })

  test("issuer, audience and onStoreUnavailable", () => {
    for (const issuer of ["", undefined, null, 42, ["https://issuer.test"]]) refused({ issuer }, /^Option issuer must be a non-empty string/)
    for (const audience of ["", undefined, [], [""], ["api", 42], 42]) refused({ audience }, /^Option audience must be/)
    for (const onStoreUnavailable of ["open", "closed", "FAIL-OPEN", true]) refused({ onStoreUnavailable }, /^Option onStoreUnavailable must be/)
    assert.throws(() => createAuth(undefined as unknown as AuthOptions), /^TypeError: createAuth needs an options object/)
  })

  test("a clock that is not a function", () => {
    for (const clock of [Date.now(), "now", {}, new Date()]) refused({ clock }, /^Option clock must be a function/)
  })

  test("construction touches no store: the error comes before any I/O", () => {
    const calls: string[] = []
    const store = new Proxy(memoryStore(), {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver)
        if (typeof value !== "function") return value
        return (...args: unknown[]) => {
          calls.push(String(property))
          return (value as (...a: unknown[]) => unknown).apply(target, args)
        }
      },
    }) as Store
    refused({ store, leeway: -1 }, /leeway/)
    refused({ store, keys: [{ alg: "HS256", secret: "short" }] }, /32 bytes/)
    assert.deepEqual(calls, [])
  })
})

describe("createAuth accepts good options", () => {
  test("durations as strings with units or numbers of seconds, leeway 0, and the limits themselves", async () => {
    const auth = accepted({
      accessTtl: "1s",
      refreshTtl: 3600,
      sessionTtl: " 90d ",
      idleTimeout: "1.5h",
      leeway: 0,
      reuseGrace: "250ms",
      maxStaleness: "0s",
      purgeInterval: "24d",
      maxSessions: { limit: 1, onExceed: "evict-oldest" },
      onStoreUnavailable: "fail-open",
    })
    const pair = await auth.issue("alice")
    assert.equal(pair.expiresIn, 1)
    assert.equal(pair.refreshExpiresIn, 3600)
    accepted({ purgeInterval: false, leeway: "100ms", maxSessions: { limit: 1, onExceed: "reject" } })
  })

  test("an HMAC secret of exactly 32 bytes, counted in bytes not characters", async () => {
    const key: KeyInput = { alg: "HS256", secret: "é".repeat(16) }
    assert.equal(Buffer.byteLength(key.secret as string), 32)
    const auth = accepted({ keys: [key] })
    assert.equal((await auth.verify((await auth.issue("alice")).accessToken)).sub, "alice")
    accepted({ keys: [{ alg: "HS256", secret: new Uint8Array(32).fill(7) }] })
    accepted({ keys: [{ alg: "HS256", secret: createSecretKey(randomBytes(32)) }] })
  })

  test("a clock, which dates the tokens, their checks and the revocations", async () => {
    const T0 = Date.UTC(2026, 0, 15)
    let now = T0
    const auth = accepted({ clock: () => now, leeway: 0, accessTtl: "15m" })
    const pair = await auth.issue("alice")
    const claims = await auth.verify(pair.accessToken)
    assert.deepEqual([claims.iat, claims.exp], [T0 / 1000, T0 / 1000 + 900])
    assert.equal((await auth.revokeSubject("bob")).createdAt, T0)
    now += 900_000
    await assert.rejects(auth.verify(pair.accessToken), { code: "token_expired" })
  })

  test("without a clock, Date.now() is read at each call, so that a Date faked after construction moves it", async (t) => {
    const auth = accepted({})
    const T0 = Date.UTC(2026, 0, 15)
    t.mock.timers.enable({ apis: ["Date"], now: T0 })
    assert.equal((await auth.verify((await auth.issue("alice")).accessToken)).iat, T0 / 1000)
  })

  test("a maxStaleness within two of the store's heartbeats is accepted with a warning that says why", async (t) => {
    const warnings: Array<{ code?: string; message: string }> = []
    const listen = (warning: Error & { code?: string }) => warnings.push({ code: warning.code, message: warning.message })
    process.on("warning", listen)
    t.after(() => process.off("warning", listen))
    const store = sqliteStore({ path: ":memory:", pollInterval: 1000 })
    accepted({ store, maxStaleness: "2s" })
    accepted({ store: sqliteStore({ path: ":memory:", pollInterval: 1000 }), maxStaleness: "2001ms" })
    accepted({ store: sqliteStore({ path: ":memory:", pollInterval: 1000 }), maxStaleness: 0 })
    await new Promise((resolve) => setImmediate(resolve))
    // Only this test's stores beat every second: warnings of other tests in the same process are not counted.
    const ours = warnings.filter((warning) => warning.message.includes("heartbeat (1000 ms)"))
    assert.deepEqual(ours.map((warning) => warning.code), ["REVOCABLE_STALENESS"])
    assert.match(ours[0]?.message ?? "", /maxStaleness \(2000 ms\) should be more than twice the store's heartbeat \(1000 ms\)/)
  })
})
