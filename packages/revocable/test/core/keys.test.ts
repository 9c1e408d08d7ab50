// Keys: every algorithm round-trips from every input form, managed keys are shared and rotated, and the JWKS
// holds public keys only and satisfies an independent verifier (jose).
import assert from "node:assert/strict"
import { createSecretKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto"
import { after, describe, test } from "node:test"
import { calculateJwkThumbprint, createLocalJWKSet, jwtVerify, type JWK } from "jose"
import { AuthError, createAuth, type Algorithm, type Auth, type AuthOptions, type KeyInput } from "../../src/index.ts"
import { importKey } from "../../src/core/keys.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import { decode, split } from "../helpers/forge.ts"

const ISSUER = "https://issuer.test"
const AUDIENCE = "api"
type Asymmetric = Exclude<Algorithm, "HS256">
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 })
const PAIRS: Record<Asymmetric, { privateKey: KeyObject; publicKey: KeyObject }> = {
  EdDSA: generateKeyPairSync("ed25519"),
  ES256: generateKeyPairSync("ec", { namedCurve: "prime256v1" }),
  RS256: rsa,
  PS256: rsa,
}
const ASYMMETRIC = Object.keys(PAIRS) as Asymmetric[]
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]

const opened: Auth[] = []
after(async () => {
  for (const auth of opened) await auth.close()
})

function makeAuth(options: Partial<AuthOptions>): Auth {
  const auth = createAuth({ issuer: ISSUER, audience: AUDIENCE, store: memoryStore(), ...options })
  opened.push(auth)
  return auth
}

/** Issues, verifies both tokens, refreshes and verifies the new pair; returns the first access token. */
async function roundTrip(auth: Auth, verifier: Auth = auth): Promise<string> {
  const pair = await auth.issue("alice", { claims: { role: "admin" } })
  const claims = await verifier.verify(pair.accessToken)
  assert.equal(claims.sub, "alice")
  assert.equal(claims.role, "admin")
  assert.equal((await verifier.verify(pair.refreshToken, { type: "refresh" })).sid, pair.sessionId)
  const next = await verifier.refresh(pair.refreshToken)
  assert.equal((await auth.verify(next.accessToken)).sid, pair.sessionId)
  return pair.accessToken
}

function privateForms(alg: Asymmetric): [string, KeyInput["privateKey"]][] {
  const { privateKey } = PAIRS[alg]
  const forms: [string, KeyInput["privateKey"]][] = [
    ["PKCS#8 PEM", privateKey.export({ type: "pkcs8", format: "pem" }) as string],
    ["JWK", privateKey.export({ format: "jwk" })],
    ["KeyObject", privateKey],
  ]
  if (alg === "RS256" || alg === "PS256") forms.push(["PKCS#1 PEM", privateKey.export({ type: "pkcs1", format: "pem" }) as string])
  if (alg === "ES256") forms.push(["SEC1 PEM", privateKey.export({ type: "sec1", format: "pem" }) as string])
  return forms
}

function publicForms(alg: Asymmetric): [string, KeyInput["publicKey"]][] {
  const { publicKey } = PAIRS[alg]
  const forms: [string, KeyInput["publicKey"]][] = [
    ["SPKI PEM", publicKey.export({ type: "spki", format: "pem" }) as string],
    ["JWK", publicKey.export({ format: "jwk" })],
    ["KeyObject", publicKey],
  ]
  if (alg === "RS256" || alg === "PS256") forms.push(["PKCS#1 PEM", publicKey.export({ type: "pkcs1", format: "pem" }) as string])
  return forms
}

describe("static keys", () => {
  for (const alg of ASYMMETRIC) {
    test(`${alg} round-trips from a private key given as ${privateForms(alg).map(([name]) => name).join(", ")}`, async () => {
      const expectedKid = await calculateJwkThumbprint(PAIRS[alg].publicKey.export({ format: "jwk" }) as JWK)
      for (const [form, privateKey] of privateForms(alg)) {
        const auth = makeAuth({ keys: [{ alg, privateKey }] })
        const token = await roundTrip(auth)
        assert.deepEqual(decode(split(token)[0]), { alg, kid: expectedKid, typ: "at+jwt" }, form)
        await auth.close()
      }
    })

    test(`${alg}: a verify-only public key (${publicForms(alg).map(([name]) => name).join(", ")}) verifies what its private key signed`, async () => {
      const signer = makeAuth({ keys: [{ alg, privateKey: PAIRS[alg].privateKey }] })
      const pair = await signer.issue("alice")
      for (const [form, publicKey] of publicForms(alg)) {
        const verifier = makeAuth({ keys: [{ alg: "EdDSA", privateKey: generateKeyPairSync("ed25519").privateKey }, { alg, publicKey }] })
        assert.equal((await verifier.verify(pair.accessToken)).sub, "alice", form)
        await verifier.close()
      }
    })
  }

  test("HS256 round-trips from a string, a Uint8Array or a secret KeyObject, all with the same derived kid", async () => {
    const text = randomBytes(24).toString("base64url")
    const kids = new Set<string>()
    for (const secret of [text, Buffer.from(text), new Uint8Array(Buffer.from(text)), createSecretKey(Buffer.from(text))]) {
      const auth = makeAuth({ keys: [{ alg: "HS256", secret }] })
      const token = await roundTrip(auth)
      const head = decode(split(token)[0])
      assert.equal(head.alg, "HS256")
      kids.add(head.kid as string)
      assert.ok(!(head.kid as string).includes(text))
      await auth.close()
    }
    assert.equal(kids.size, 1)
  })

  test("an HS256 kid derived from a secret stays the same from version to version, so tokens outlive an upgrade", async () => {
    const auth = makeAuth({ keys: [{ alg: "HS256", secret: "a fixed secret of 32 bytes, or more" }] })
    assert.equal(decode(split((await auth.issue("alice")).accessToken)[0]).kid, "Mv4SgAMwcSDsfxW2")
  })

  test("a verify-only key listed first never signs: the first key that can sign does", async () => {
    const auth = makeAuth({ keys: [{ kid: "public", alg: "EdDSA", publicKey: PAIRS.EdDSA.publicKey }, { kid: "private", alg: "ES256", privateKey: PAIRS.ES256.privateKey }] })
    assert.equal(decode(split((await auth.issue("alice")).accessToken)[0]).kid, "private")
  })

  test("a key that cannot be used is refused at construction, saying why", () => {
    const make = (key: KeyInput) => createAuth({ issuer: ISSUER, audience: AUDIENCE, store: memoryStore(), keys: [key] })
    assert.throws(() => make({ alg: "HS512" as Algorithm, secret: randomBytes(32) }), {
      name: "TypeError",
      message: 'Unsupported key algorithm "HS512"; use one of EdDSA, ES256, RS256, PS256, HS256.',
    })
    // node:crypto's own error stays reachable as the cause.
    assert.throws(() => make({ alg: "EdDSA", privateKey: "not a PEM" }), (error: unknown) => error instanceof TypeError && error.cause instanceof Error)
  })

  test("a JWK meant for encryption (use, key_ops) is refused by createAuth and rotateKey, saying why", async () => {
    const privateJwk = PAIRS.EdDSA.privateKey.export({ format: "jwk" })
    const publicJwk = PAIRS.EdDSA.publicKey.export({ format: "jwk" })
    const make = (key: KeyInput) => createAuth({ issuer: ISSUER, audience: AUDIENCE, store: memoryStore(), keys: [key] })
    const refusals: [KeyInput, string][] = [
      [{ alg: "EdDSA", privateKey: { ...privateJwk, use: "enc" } }, 'The private key is a JWK with use "enc": only a signing key (use "sig") signs and verifies tokens.'],
      [{ alg: "EdDSA", publicKey: { ...publicJwk, use: "enc" } }, 'The public key is a JWK with use "enc": only a signing key (use "sig") signs and verifies tokens.'],
      [{ alg: "EdDSA", privateKey: { ...privateJwk, key_ops: ["encrypt", "decrypt"] } }, 'The private key is a JWK whose key_ops does not include "sign": it is not a signing key.'],
      [{ alg: "EdDSA", privateKey: { ...privateJwk, key_ops: ["verify"] } }, 'The private key is a JWK whose key_ops does not include "sign": it is not a signing key.'],
      [{ alg: "EdDSA", publicKey: { ...publicJwk, key_ops: ["sign", "encrypt"] } }, 'The public key is a JWK whose key_ops does not include "verify": it is not a signing key.'],
      [{ alg: "EdDSA", privateKey: { ...privateJwk, key_ops: "sign" as unknown as string[] } }, "The private key is a JWK whose key_ops is not an array of strings."],
      [{ alg: "EdDSA", publicKey: { ...publicJwk, key_ops: ["verify", 1] as unknown as string[] } }, "The public key is a JWK whose key_ops is not an array of strings."],
      [{ alg: "ES256", privateKey: { ...PAIRS.ES256.privateKey.export({ format: "jwk" }), use: "sig", key_ops: ["deriveKey"] } }, 'The private key is a JWK whose key_ops does not include "sign": it is not a signing key.'],
    ]
    for (const [key, message] of refusals) {
      assert.throws(() => make(key), { name: "TypeError", message })
      assert.throws(() => importKey(key), { name: "TypeError", message })
    }
    assert.throws(() => importKey({ alg: "EdDSA", privateKey: null as unknown as string }), { name: "TypeError", message: "The private key could not be read (PEM, JWK or KeyObject expected)." })
    const auth = makeAuth({ keys: [{ kid: "k1", alg: "EdDSA", privateKey: privateJwk }] })
    await assert.rejects(auth.rotateKey({ kid: "k2", alg: "EdDSA", privateKey: { ...privateJwk, use: "enc" } }), { name: "TypeError", message: /use "enc"/ })
    assert.equal(decode(split((await auth.issue("alice")).accessToken)[0]).kid, "k1", "the refused key did not become current")
  })

  test("a JWK marked for signing (use sig, key_ops sign or verify, as WebCrypto exports them) signs and verifies", async () => {
    const signer = makeAuth({ keys: [{ kid: "k1", alg: "EdDSA", privateKey: { ...PAIRS.EdDSA.privateKey.export({ format: "jwk" }), use: "sig", key_ops: ["sign"] } }] })
    const publicJwk = { ...PAIRS.EdDSA.publicKey.export({ format: "jwk" }), use: "sig", key_ops: ["verify"] }
    const verifier = makeAuth({ keys: [{ alg: "ES256", privateKey: PAIRS.ES256.privateKey }, { kid: "k1", alg: "EdDSA", publicKey: publicJwk }] })
    assert.equal((await verifier.verify((await signer.issue("alice")).accessToken)).sub, "alice")
    const both = importKey({ alg: "ES256", privateKey: { ...PAIRS.ES256.privateKey.export({ format: "jwk" }), key_ops: ["sign", "verify"] } })
    assert.equal(both.verify("a.b", both.sign("a.b")), true)
  })

  test("a key with only a public key refuses to sign, naming its kid", () => {
    const key = importKey({ kid: "public", alg: "EdDSA", publicKey: PAIRS.EdDSA.publicKey })
    assert.equal(key.canSign, false)
    assert.throws(() => key.sign("a.b"), /public/)
  })

  test("the first key that can sign signs; the others still verify; rotateKey(key) makes a new key current", async () => {
    const first = generateKeyPairSync("ed25519")
    const second = generateKeyPairSync("ed25519")
    const old = makeAuth({ keys: [{ kid: "second", alg: "EdDSA", privateKey: second.privateKey }] })
    const oldToken = (await old.issue("alice")).accessToken
    const auth = makeAuth({ keys: [{ kid: "first", alg: "EdDSA", privateKey: first.privateKey }, { kid: "second", alg: "EdDSA", privateKey: second.privateKey }] })
    assert.equal(decode(split((await auth.issue("alice")).accessToken)[0]).kid, "first")
    assert.equal((await auth.verify(oldToken)).sub, "alice")
    const { kid } = await auth.rotateKey({ kid: "third", alg: "ES256", privateKey: PAIRS.ES256.privateKey })
    assert.equal(kid, "third")
    const rotated = await auth.issue("alice")
    assert.deepEqual(decode(split(rotated.accessToken)[0]), { alg: "ES256", kid: "third", typ: "at+jwt" })
    assert.equal((await auth.verify(oldToken)).sub, "alice")
    await assert.rejects(auth.rotateKey(), TypeError)
  })

  test("retireKey with a kid that is not ours is invalid_request", async () => {
    const auth = makeAuth({ keys: [{ kid: "k1", alg: "EdDSA", privateKey: PAIRS.EdDSA.privateKey }] })
    for (const kid of ["k2", "", "__proto__"]) await assert.rejects(auth.retireKey(kid), { code: "invalid_request" })
    await assert.rejects(auth.retireKey(42 as unknown as string), (error: unknown) => error instanceof AuthError && error.code === "invalid_request")
  })
})

describe("managed keys", () => {
  for (const alg of [...ASYMMETRIC, "HS256"] as Algorithm[]) {
    test(`${alg}: generated once in the store, shared by every instance on it`, async () => {
      const store = memoryStore()
      const first = makeAuth({ algorithm: alg, store })
      const second = makeAuth({ algorithm: alg, store })
      const token = await roundTrip(first, second)
      const head = decode(split(token)[0])
      assert.equal(head.alg, alg)
      assert.equal(head.typ, "at+jwt")
      const keys = second.jwks().keys
      if (alg === "HS256") assert.deepEqual(keys, [])
      else assert.deepEqual(keys.map((key) => key.kid), [head.kid])
      assert.deepEqual(first.jwks(), second.jwks())
    })
  }

  test("HS256: the stored key is an oct JWK whose k is the 32-byte secret its tokens are signed with", async () => {
    const store = memoryStore()
    const auth = makeAuth({ algorithm: "HS256", store })
    const pair = await auth.issue("alice")
    const [stored] = await store.listKeys()
    const jwk = JSON.parse(stored?.privateJwk ?? "{}") as { kty?: string; k?: string }
    assert.equal(jwk.kty, "oct")
    const secret = Buffer.from(jwk.k ?? "", "base64url")
    assert.equal(secret.length, 32)
    const { payload } = await jwtVerify(pair.accessToken, createSecretKey(secret), { issuer: ISSUER, audience: AUDIENCE, algorithms: ["HS256"] })
    assert.equal(payload.sub, "alice")
  })

  test("rotateKey() publishes a new key, signs with it from keyActivationDelay on (15 min by default); old tokens verify until the old key is retired", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: Date.UTC(2026, 0, 15) })
    const store = memoryStore({ clock: () => Date.now() })
    const auth = makeAuth({ store })
    const peer = makeAuth({ store })
    const before = await auth.issue("alice")
    const oldKid = decode(split(before.accessToken)[0]).kid as string
    t.mock.timers.tick(1000)
    const { kid, activatesAt } = await auth.rotateKey()
    assert.notEqual(kid, oldKid)
    assert.equal(activatesAt, Date.now() + 15 * 60_000)
    assert.deepEqual(auth.jwks().keys.map((key) => key.kid), [kid, oldKid], "published at once, the next key first")
    assert.equal(decode(split((await auth.issue("alice")).accessToken)[0]).kid, oldKid, "the old key signs until then")
    t.mock.timers.tick(15 * 60_000)
    const after = await auth.issue("alice")
    assert.equal(decode(split(after.accessToken)[0]).kid, kid)
    assert.equal((await peer.verify(before.accessToken)).sub, "alice")
    assert.equal((await peer.verify(after.accessToken)).sub, "alice")
    assert.deepEqual(auth.jwks().keys.map((key) => key.kid).sort(), [kid, oldKid].sort())
    await auth.retireKey(oldKid)
    await assert.rejects(auth.verify(before.accessToken), { code: "token_revoked" })
    await assert.rejects(peer.verify(before.accessToken), { code: "token_revoked" })
    assert.equal((await peer.verify(after.accessToken)).sub, "alice")
    assert.deepEqual(auth.jwks().keys.map((key) => key.kid), [kid])
    await assert.rejects(auth.rotateKey({ alg: "EdDSA", privateKey: PAIRS.EdDSA.privateKey }), TypeError)
  })

  test("each rotateKey({ now: true }) makes its new key current, even within the same millisecond", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: Date.UTC(2026, 0, 15) })
    const auth = makeAuth({})
    await auth.ready()
    for (let round = 0; round < 5; round++) {
      const { kid } = await auth.rotateKey({ now: true })
      assert.equal(decode(split((await auth.issue("alice")).accessToken)[0]).kid, kid, `rotation ${round + 1}`)
    }
  })
})

describe("jwks()", () => {
  test("lists the public keys only: never a shared secret, never a private member", async () => {
    const secret = randomBytes(32)
    const auth = makeAuth({
      keys: [
        { kid: "hs", alg: "HS256", secret },
        { kid: "ed", alg: "EdDSA", privateKey: PAIRS.EdDSA.privateKey },
        { kid: "ec", alg: "ES256", privateKey: PAIRS.ES256.privateKey },
        { kid: "rs", alg: "RS256", privateKey: rsa.privateKey },
        { kid: "ps", alg: "PS256", privateKey: rsa.privateKey },
      ],
    })
    await auth.ready()
    const { keys } = auth.jwks()
    assert.deepEqual(keys.map((key) => [key.kid, key.alg, key.use]), [["ed", "EdDSA", "sig"], ["ec", "ES256", "sig"], ["rs", "RS256", "sig"], ["ps", "PS256", "sig"]])
    for (const key of keys) {
      for (const member of PRIVATE_MEMBERS) assert.equal(Object.hasOwn(key, member), false, `${key.kid} has ${member}`)
      assert.notEqual(key.kty, "oct")
    }
    const text = JSON.stringify(auth.jwks())
    assert.ok(!text.includes(secret.toString("base64url")))
    assert.ok(!text.includes(String(PAIRS.EdDSA.privateKey.export({ format: "jwk" }).d)))
  })

  test("jose's createLocalJWKSet and jwtVerify accept our access tokens, static and managed, for every public-key algorithm", async () => {
    for (const alg of ASYMMETRIC) {
      for (const keys of [[{ alg, privateKey: PAIRS[alg].privateKey }], undefined]) {
        const auth = makeAuth({ keys, algorithm: alg })
        const pair = await auth.issue("alice", { claims: { role: "admin" } })
        const jwks = createLocalJWKSet(auth.jwks() as { keys: JWK[] })
        const { payload, protectedHeader } = await jwtVerify(pair.accessToken, jwks, { issuer: ISSUER, audience: AUDIENCE, typ: "at+jwt", algorithms: [alg] })
        assert.equal(protectedHeader.alg, alg)
        assert.equal(payload.sub, "alice")
        assert.equal(payload.role, "admin")
        assert.deepEqual(payload, await auth.verify(pair.accessToken))
        // The refresh token is typed apart, for jose too.
        await assert.rejects(jwtVerify(pair.refreshToken, jwks, { typ: "at+jwt" }), { code: "ERR_JWT_CLAIM_VALIDATION_FAILED" })
        await auth.close()
      }
    }
  })

  test("jose's jwtVerify accepts our HS256 access tokens with the shared secret", async () => {
    const secret = randomBytes(32)
    const auth = makeAuth({ keys: [{ alg: "HS256", secret }] })
    const pair = await auth.issue("alice")
    const { payload } = await jwtVerify(pair.accessToken, createSecretKey(secret), { issuer: ISSUER, audience: AUDIENCE, typ: "at+jwt", algorithms: ["HS256"] })
    assert.deepEqual(payload, await auth.verify(pair.accessToken))
  })
})
