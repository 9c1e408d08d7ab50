// SECURITY-CASES.md "Verifying a token": every case, each asserting the exact AuthError code.
import assert from "node:assert/strict"
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { after, describe, test } from "node:test"
import { AuthError, createAuth, type Auth, type AuthErrorCode, type AuthOptions, type KeyInput, type Store } from "../../src/index.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import { decode, forge, hs256, segment, signWith, split, unsigned, type Signer } from "../helpers/forge.ts"

const ISSUER = "https://issuer.test"
const AUDIENCE = "api"
const SECRET = randomBytes(32)
const ed = generateKeyPairSync("ed25519")
const ec = generateKeyPairSync("ec", { namedCurve: "prime256v1" })
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 })
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
/** The order of the P-256 group. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n

type Kid = "hs" | "ed" | "ec" | "rs" | "ps"
const KEYS: KeyInput[] = [
  { kid: "hs", alg: "HS256", secret: SECRET },
  { kid: "ed", alg: "EdDSA", privateKey: ed.privateKey },
  { kid: "ec", alg: "ES256", privateKey: ec.privateKey },
  { kid: "rs", alg: "RS256", privateKey: rsa.privateKey },
  { kid: "ps", alg: "PS256", privateKey: rsa.privateKey },
]
const ALG: Record<Kid, string> = { hs: "HS256", ed: "EdDSA", ec: "ES256", rs: "RS256", ps: "PS256" }
const SIGNER: Record<Kid, Signer> = {
  hs: hs256(SECRET),
  ed: signWith("EdDSA", ed.privateKey),
  ec: signWith("ES256", ec.privateKey),
  rs: signWith("RS256", rsa.privateKey),
  ps: signWith("PS256", rsa.privateKey),
}

const opened: Auth[] = []
after(async () => {
  for (const auth of opened) await auth.close()
})

function makeAuth(options: Partial<AuthOptions> = {}): Auth {
  const auth = createAuth({ issuer: ISSUER, audience: AUDIENCE, store: memoryStore(), keys: KEYS, ...options })
  opened.push(auth)
  return auth
}

/** Default leeway (30 s); signs with the HS256 key first. */
const auth = makeAuth()

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return { iss: ISSUER, sub: "alice", aud: AUDIENCE, iat: now, exp: now + 60, jti: randomUUID(), sid: "session-1", gen: 0, ...overrides }
}

function header(kid: Kid = "hs", extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { alg: ALG[kid], kid, typ: "at+jwt", ...extra }
}

/** A token that verifies: our header for `kid`, valid claims, a real signature. */
function good(overrides: Record<string, unknown> = {}, kid: Kid = "hs"): string {
  return forge(header(kid), claims(overrides), SIGNER[kid])
}

/** Claims as JSON text with `extra` spliced in raw (for duplicate names and numbers JSON.stringify cannot write). */
function claimsText(extra: string, overrides: Record<string, unknown> = {}): string {
  return `${JSON.stringify(claims(overrides)).slice(0, -1)},${extra}}`
}

function assertNoToken(error: Error, token: unknown): void {
  if (typeof token !== "string") return
  const text = `${error.message}\n${error.stack ?? ""}`
  for (const part of [token, ...token.split(".")]) {
    if (part.length >= 8) assert.ok(!text.includes(part), "the error message contains the token")
  }
}

async function refused(token: unknown, code: AuthErrorCode, on: Auth = auth, type?: "access" | "refresh"): Promise<void> {
  await assert.rejects(on.verify(token, type ? { type } : undefined), (error: unknown) => {
    assert.ok(error instanceof AuthError, `expected an AuthError, got ${String(error)}`)
    assert.equal(error.code, code, `${error.code}: ${error.message}`)
    assertNoToken(error, token)
    return true
  })
}

/** Every method call the auth makes on its store after `ready()`. */
function countingStore(): { store: Store; calls: string[] } {
  const target = memoryStore()
  const calls: string[] = []
  const store = new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver)
      if (typeof value !== "function") return value
      return (...args: unknown[]) => {
        calls.push(String(property))
        return (value as (...a: unknown[]) => unknown).apply(object, args)
      }
    },
  })
  return { store, calls }
}

describe("verify() refuses tokens that are not well formed", () => {
  test("a token that verifies is accepted (the baseline every other case departs from)", async () => {
    for (const kid of Object.keys(ALG) as Kid[]) {
      const verified = await auth.verify(good({ sub: `user-${kid}` }, kid))
      assert.equal(verified.sub, `user-${kid}`)
    }
  })

  test("null and undefined are token_missing", async () => {
    await refused(null, "token_missing")
    await refused(undefined, "token_missing")
  })

  test("a value that is not a string is token_malformed", async () => {
    for (const value of [42, {}, [], true, Buffer.from(good()), new String(good())]) await refused(value, "token_malformed")
  })

  test("an empty string, whitespace, and a token wrapped in whitespace are token_malformed", async () => {
    const token = good()
    const [h, p, s] = split(token)
    for (const bad of ["", " ", "\t\n", ` ${token}`, `${token}\n`, `${token} `, `Bearer ${token}`, `${h}. ${p}.${s}`, `${h}.${p}.${s.slice(0, 10)} ${s.slice(11)}`]) {
      await refused(bad, "token_malformed")
    }
  })

  test("2, 4 and 5 segments, empty segments, a trailing dot and JSON serialization are token_malformed", async () => {
    const token = good()
    const [h, p, s] = split(token)
    const cases = [
      "a",
      "a.b",
      `${h}.${p}`,
      `${h}.${p}.`,
      `${h}.${p}.${s}.`,
      `${token}.${s}`,
      `${h}.${p}.${s}.${s}.${s}`,
      `.${p}.${s}`,
      `${h}..${s}`,
      "..",
      "...",
      ".",
      JSON.stringify({ payload: p, protected: h, signature: s }),
      JSON.stringify({ payload: p, signatures: [{ protected: h, signature: s }] }),
    ]
    for (const bad of cases) await refused(bad, "token_malformed")
  })

  test("a JWE (five segments) is token_malformed", async () => {
    const jweHeader = segment({ alg: "dir", enc: "A256GCM", kid: "hs", typ: "at+jwt" })
    await refused(`${jweHeader}..${segment("iv")}.${segment("ciphertext")}.${segment("tag")}`, "token_malformed")
  })

  test("a character outside [A-Za-z0-9_-] in any segment is token_malformed", async () => {
    const token = good()
    const [h, p, s] = split(token)
    const at = (text: string, index: number, char: string) => text.slice(0, index) + char + text.slice(index + 1)
    for (const char of ["+", "/", "=", "!", "é", "\u0000", "%", "*", "\u00a0"]) {
      for (const index of [0, 5]) {
        await refused(`${at(h, index, char)}.${p}.${s}`, "token_malformed")
        await refused(`${h}.${at(p, index, char)}.${s}`, "token_malformed")
        await refused(`${h}.${p}.${at(s, index, char)}`, "token_malformed")
      }
    }
    await refused(`${h}.${p}.${s}=`, "token_malformed")
    await refused(`${h}.${p}.${Buffer.from(s, "base64url").toString("base64")}==`, "token_malformed")
  })

  test("a character above U+00FF that aliases a base64url one (Ł is A to Node's decoder and to latin1) is token_malformed, for every key", async () => {
    // Node's base64url decoder reads U+0141 as "A", and the asymmetric keys hash the signing input as latin1,
    // where U+0141 is 0x41 too: without the charset check such a variant would verify with the original's claims.
    const alias = (text: string) => String.fromCharCode(0x100 + text.charCodeAt(0)) + text.slice(1)
    assert.deepEqual(Buffer.from(alias("QUJD"), "base64url"), Buffer.from("QUJD", "base64url"), "Node's decoder aliases them")
    for (const kid of ["hs", "ed", "ec", "rs", "ps"] as const) {
      const [h, p, s] = split(good({}, kid))
      await refused(`${h}.${alias(p)}.${s}`, "token_malformed")
      await refused(`${h}.${p}.${alias(s)}`, "token_malformed")
    }
  })

  test("invalid UTF-8 in the header or the (correctly signed) payload is token_malformed", async () => {
    const invalid = [Buffer.from([0xff]), Buffer.from([0xc3, 0x28]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xe2, 0x82])]
    for (const bytes of invalid) {
      const headerBytes = Buffer.concat([Buffer.from('{"alg":"HS256","kid":"hs","typ":"at+jwt","x":"'), bytes, Buffer.from('"}')])
      await refused(forge(headerBytes, claims(), SIGNER.hs), "token_malformed")
      const payload = Buffer.concat([Buffer.from(JSON.stringify(claims()).slice(0, -1)), Buffer.from(',"x":"'), bytes, Buffer.from('"}')])
      await refused(forge(header(), payload, SIGNER.hs), "token_malformed")
    }
    // U+FFFD itself is valid UTF-8, in a header member as in a claim.
    assert.equal((await auth.verify<{ x: string }>(good({ x: "\uFFFD" }))).x, "\uFFFD")
    assert.equal((await auth.verify(forge(header("hs", { x: "\uFFFD" }), claims(), SIGNER.hs))).sub, "alice")
  })

  test("a header that is not JSON or not a JSON object is token_malformed", async () => {
    for (const text of ["not json", "", "[]", '["alg"]', "1", '"HS256"', "null", "true", '{"alg":"HS256"', "{'alg':'HS256'}"]) {
      await refused(forge(text, claims(), SIGNER.hs), "token_malformed")
    }
  })

  test("a correctly signed payload that is not a JSON object (array, number, string, null) is token_malformed", async () => {
    for (const text of ["[]", '[{"sub":"alice"}]', "1", "1e400", '"alice"', "null", "true", "not json", "{", '{"sub":"alice",}']) {
      await refused(forge(header(), text, SIGNER.hs), "token_malformed")
    }
  })

  test("a token longer than 8192 characters is token_malformed, without being decoded", async (t) => {
    await auth.ready()
    const parse = t.mock.method(JSON, "parse")
    const huge = forge(header(), claims({ pad: "x".repeat(10_000) }), SIGNER.hs)
    await refused(huge, "token_malformed")
    await refused("A".repeat(1_000_000), "token_malformed")
    await refused(`${"A".repeat(5000)}.${"A".repeat(5000)}.${"A".repeat(5000)}`, "token_malformed")
    assert.equal(parse.mock.callCount(), 0)
  })

  test("a correctly signed token of exactly 8192 characters verifies; of 8193 is token_malformed", async () => {
    const sized = (length: number): string => {
      for (let pad = 5800; pad < 6200; pad++) {
        for (const x of ["", "x", "xx", "xxx"]) {
          const token = forge(header("hs", x ? { x } : {}), claims({ pad: "x".repeat(pad) }), SIGNER.hs)
          if (token.length === length) return token
        }
      }
      throw new Error(`no token of length ${length}`)
    }
    assert.equal((await auth.verify(sized(8192))).sub, "alice")
    await refused(sized(8193), "token_malformed")
  })

  test("nesting 100 000 deep is refused by size (token_malformed); deep nesting under 8 KB does not crash", async () => {
    const deep = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`
    await refused(forge(header(), claimsText(`"deep":${deep(100_000)}`), SIGNER.hs), "token_malformed")
    await refused(forge(`{"alg":"HS256","kid":"hs","typ":"at+jwt","deep":${deep(100_000)}}`, claims(), SIGNER.hs), "token_malformed")
    const objects = (depth: number) => `${'{"a":'.repeat(depth)}0${"}".repeat(depth)}`
    const arrays = forge(header(), claimsText(`"deep":${deep(2700)}`), SIGNER.hs)
    assert.ok(arrays.length <= 8192)
    assert.equal((await auth.verify(arrays)).sub, "alice")
    const nestedObjects = forge(header(), claimsText(`"deep":${objects(900)}`), SIGNER.hs)
    assert.ok(nestedObjects.length <= 8192)
    assert.equal((await auth.verify(nestedObjects)).sub, "alice")
    const deepHeader = forge(`{"alg":"HS256","kid":"hs","typ":"at+jwt","deep":${deep(300)}}`, claims(), SIGNER.hs)
    assert.equal((await auth.verify(deepHeader)).sub, "alice")
  })

  test("duplicate member names in the header are token_malformed, however they are spelled", async () => {
    const rest = '"kid":"hs","typ":"at+jwt"'
    const headers = [
      `{"alg":"HS256",${rest},"alg":"HS256"}`,
      `{"alg":"none",${rest},"alg":"HS256"}`,
      `{"alg":"HS256",${rest},"kid":"hs"}`,
      `{"alg":"HS256",${rest},"\\u0061lg":"HS256"}`,
      `{"alg":"HS256",${rest},"typ":"rt+jwt"}`,
      `{"alg":"HS256", ${rest} ,"typ" : "at+jwt"}`,
      // Whitespace of every kind between a name and its colon.
      `{"alg"\t:"HS256",${rest},"alg"\n:"HS256"}`,
      `{"alg":"HS256",${rest},"alg"\r\n\t :"HS256"}`,
      `{"alg":"HS256",${rest},"alg"\r:"HS256"}`,
      // After strings holding escaped quotes and backslashes, in values and in names.
      `{"x":"a\\"b","alg":"HS256",${rest},"alg":"HS256"}`,
      `{"x":"\\\\","alg":"HS256",${rest},"alg":"HS256"}`,
      `{"alg":"HS256",${rest},"\\"":1,"\\"":2}`,
      // After a nested object or array, which must not leave the parser a level off.
      `{"x":{"y":{}},"alg":"HS256",${rest},"alg":"HS256"}`,
      `{"x":[1,[2],{"y":[]}],"alg":"HS256",${rest},"alg":"HS256"}`,
      `{"alg":"HS256",${rest},"x":[],"y":{},"alg":"HS256"}`,
    ]
    for (const text of headers) await refused(forge(text, claims(), SIGNER.hs), "token_malformed")
    // Same names nested in a member value, or as a value, are not duplicates of the top level.
    const accepted = [
      `{"alg":"HS256",${rest},"x":{"alg":"a","kid":"b","x":"\\"alg\\":"}}`,
      `{"alg":"HS256",${rest},"x":"alg","y":["typ",{"kid":["alg"]}],"z":"\\\\"}`,
    ]
    for (const text of accepted) assert.equal((await auth.verify(forge(text, claims(), SIGNER.hs))).sub, "alice")
  })
})

describe("verify() chooses the key by kid alone, bound to one algorithm", () => {
  test("alg none in any letter case is token_invalid with a signature, token_malformed without one", async () => {
    for (const alg of ["none", "None", "NONE", "nOnE", "none "]) {
      for (const head of [{ alg, typ: "at+jwt" }, { alg, kid: "hs", typ: "at+jwt" }]) {
        await refused(forge(head, claims(), SIGNER.hs), "token_invalid")
        await refused(forge(head, claims(), unsigned("AAAA")), "token_invalid")
        await refused(forge(head, claims(), unsigned()), "token_malformed")
        await refused(`${segment(head)}.${segment(claims())}`, "token_malformed")
      }
    }
  })

  test("an algorithm in lower case or not supported is token_invalid", async () => {
    for (const kid of Object.keys(ALG) as Kid[]) {
      await refused(forge(header(kid, { alg: ALG[kid].toLowerCase() }), claims(), SIGNER[kid]), "token_invalid")
    }
    for (const alg of ["HS512", "RS512", "ES384", "Ed25519", "", null, 256, ["HS256"], { HS256: true }]) {
      await refused(forge(header("hs", { alg }), claims(), SIGNER.hs), "token_invalid")
    }
    const { alg: _, ...noAlg } = header()
    await refused(forge(noAlg, claims(), SIGNER.hs), "token_invalid")
  })

  test("a hostile or unknown kid is token_invalid, with no fallback key and no store query", async () => {
    const { store, calls } = countingStore()
    const counted = makeAuth({ store })
    await counted.ready()
    calls.length = 0
    const kids: unknown[] = [
      "../../../../etc/passwd",
      "/dev/null",
      "file:///etc/passwd",
      "' OR '1'='1",
      "hs'; DROP TABLE keys; --",
      "hs\u0000",
      "\u0000",
      "hs\u0000../../x",
      "HS",
      "hs ",
      " hs",
      "",
      "__proto__",
      "constructor",
      "toString",
      "k".repeat(600),
      null,
      42,
      ["hs"],
      { kid: "hs" },
    ]
    for (const kid of kids) {
      await refused(forge(header("hs", { kid }), claims(), SIGNER.hs), "token_invalid", counted)
      await refused(forge(header("ed", { kid }), claims(), SIGNER.ed), "token_invalid", counted)
    }
    const { kid: _, ...noKid } = header()
    await refused(forge(noKid, claims(), SIGNER.hs), "token_invalid", counted)
    assert.deepEqual(calls, [])
  })

  test("a 10 KB kid is refused by size before decoding (token_malformed)", async () => {
    await refused(forge(header("hs", { kid: "k".repeat(10_240) }), claims(), SIGNER.hs), "token_malformed")
    // A header over 1 KB is refused even when the whole token is under 8 KB.
    await refused(forge(header("hs", { kid: "k".repeat(1_500) }), claims(), SIGNER.hs), "token_malformed")
  })

  test("a header segment of exactly 1024 characters is read; one longer (1026: no base64url text has 1025) is token_malformed", async () => {
    const sized = (length: number): string => {
      for (let pad = 700; pad < 800; pad++) {
        const head = header("hs", { x: "x".repeat(pad) })
        if (segment(head).length === length) return forge(head, claims(), SIGNER.hs)
      }
      throw new Error(`no header of length ${length}`)
    }
    assert.equal((await auth.verify(sized(1024))).sub, "alice")
    await refused(sized(1026), "token_malformed")
  })

  test("a valid signature by the kid's key under another algorithm is token_invalid", async () => {
    const cases: [Kid, string, Signer][] = [
      ["rs", "PS256", SIGNER.ps],
      ["ps", "RS256", SIGNER.rs],
      ["rs", "RS256", SIGNER.ps],
      ["ps", "PS256", SIGNER.rs],
      ["hs", "EdDSA", SIGNER.ed],
      ["ed", "ES256", SIGNER.ec],
      ["ec", "EdDSA", SIGNER.ed],
      ["ec", "HS256", SIGNER.hs],
      ["ed", "HS256", SIGNER.hs],
      ["rs", "HS256", SIGNER.hs],
    ]
    for (const [kid, alg, signer] of cases) await refused(forge(header(kid, { alg }), claims(), signer), "token_invalid")
  })

  test("a valid signature by the kid's key, under a header relabelled to another accepted algorithm, is token_invalid", async () => {
    // Each key verifies with its own algorithm whatever the header says: only the binding refuses the relabel.
    for (const kid of Object.keys(ALG) as Kid[]) {
      for (const alg of Object.values(ALG)) {
        if (alg !== ALG[kid]) await refused(forge(header(kid, { alg }), claims(), SIGNER[kid]), "token_invalid")
      }
    }
  })

  test("a kid that is not a string but reads as a valid one (42, true, [\"hs\"]) is token_invalid and never reloads managed keys", async () => {
    const { store, calls } = countingStore()
    const managed = makeAuth({ keys: undefined, store })
    await managed.ready()
    calls.length = 0
    for (const kid of [42, 1.5, true, ["hs"]]) await refused(forge({ alg: "HS256", kid, typ: "at+jwt" }, claims(), SIGNER.hs), "token_invalid", managed)
    assert.deepEqual(calls, [])
  })

  test("HS256 keyed with our public key, in every text form, with our kid or none, is token_invalid", async () => {
    const published = auth.jwks().keys
    const forms = (kid: Kid, publicKey: KeyObject): (string | Buffer)[] => {
      const spki = publicKey.export({ type: "spki", format: "pem" }) as string
      const jwk = publicKey.export({ format: "jwk" })
      const texts: (string | Buffer)[] = [
        spki,
        spki.trim(),
        spki.replace(/\n/g, "\r\n"),
        `junk before the key\n${spki}`,
        `-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n${spki}`,
        JSON.stringify(jwk),
        JSON.stringify(jwk, null, 2),
        JSON.stringify(published.find((key) => key.kid === kid)),
        JSON.stringify({ keys: [published.find((key) => key.kid === kid)] }),
        publicKey.export({ type: "spki", format: "der" }),
        String(jwk.x),
      ]
      if (publicKey.asymmetricKeyType === "rsa") {
        const pkcs1 = publicKey.export({ type: "pkcs1", format: "pem" }) as string
        texts.push(pkcs1, pkcs1.trim(), `junk\n${pkcs1}`, publicKey.export({ type: "pkcs1", format: "der" }), String(jwk.n))
      }
      return texts
    }
    const ours: [Kid, KeyObject][] = [["ed", ed.publicKey], ["ec", ec.publicKey], ["rs", rsa.publicKey], ["ps", rsa.publicKey]]
    for (const [kid, publicKey] of ours) {
      for (const form of forms(kid, publicKey)) {
        for (const head of [header(kid, { alg: "HS256" }), { alg: "HS256", typ: "at+jwt" }, header("hs")]) {
          await refused(forge(head, claims(), hs256(form)), "token_invalid")
        }
      }
    }
  })

  test("crit (any value) and b64 in the header are token_invalid", async () => {
    for (const value of [[], ["exp"], ["b64"], "exp", null, {}, true]) {
      await refused(forge(header("hs", { crit: value }), claims(), SIGNER.hs), "token_invalid")
    }
    for (const value of [false, true, "false", null]) {
      await refused(forge(header("hs", { b64: value }), claims(), SIGNER.hs), "token_invalid")
      await refused(forge(header("hs", { b64: value, crit: ["b64"] }), claims(), SIGNER.hs), "token_invalid")
    }
  })

  test("a missing or unknown typ is token_invalid; the media type is compared case-insensitively", async () => {
    const { typ: _, ...noTyp } = header()
    await refused(forge(noTyp, claims(), SIGNER.hs), "token_invalid")
    for (const typ of ["JWT", "jwt", "at+jwt ", "at+jwt;x=1", "application/jwt", "at+jws", "", null, 1, ["at+jwt"], "dpop+jwt", "application/application/at+jwt", "at+application/jwt"]) {
      await refused(forge(header("hs", { typ }), claims(), SIGNER.hs), "token_invalid")
    }
    for (const typ of ["AT+JWT", "application/at+jwt", "Application/At+Jwt"]) {
      assert.equal((await auth.verify(forge(header("hs", { typ }), claims(), SIGNER.hs))).sub, "alice")
    }
  })

  test("a refresh token's typ is rt+jwt in any letter case, with or without application/, and nothing else", async () => {
    const refresh = (typ: unknown) => forge(header("hs", { typ }), claims(), SIGNER.hs)
    for (const typ of ["rt+jwt", "RT+JWT", "application/rt+jwt", "Application/Rt+Jwt", "APPLICATION/RT+JWT"]) {
      assert.equal((await auth.verify(refresh(typ), { type: "refresh" })).sub, "alice", typ)
    }
    for (const typ of ["rt+jwt ", " rt+jwt", "rt+jwt;x=1", "rt+jws", "refresh+jwt", "application/application/rt+jwt", "rt+application/jwt", "x-application/rt+jwt", "jwt", null, ["rt+jwt"]]) {
      await refused(refresh(typ), "token_invalid", auth, "refresh")
    }
  })

  test("jku, x5u, x5c and jwk headers are never used to pick a key and never fetched", async () => {
    const attacker = generateKeyPairSync("ed25519")
    const attackerJwk = { ...attacker.publicKey.export({ format: "jwk" }), kid: "attacker", alg: "EdDSA", use: "sig" }
    const attackerSecret = randomBytes(32)
    let requests = 0
    const server = createServer((_request, response) => {
      requests++
      response.setHeader("content-type", "application/json")
      response.end(JSON.stringify({ keys: [attackerJwk] }))
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`
      // The x5c content does not matter: it is never read.
      const x5c = [attacker.publicKey.export({ type: "spki", format: "der" }).toString("base64")]
      const variants: Record<string, unknown>[] = [{ jku: url }, { jwk: attackerJwk }, { x5u: url }, { x5c }, { jku: url, jwk: attackerJwk, x5u: url, x5c }]
      for (const variant of variants) {
        for (const kid of ["attacker", "ed", undefined]) {
          const head = { alg: "EdDSA", ...(kid === undefined ? {} : { kid }), typ: "at+jwt", ...variant }
          await refused(forge(head, claims(), signWith("EdDSA", attacker.privateKey)), "token_invalid")
        }
        const octJwk = { kty: "oct", k: attackerSecret.toString("base64url"), kid: "hs" }
        await refused(forge(header("hs", { ...variant, jwk: octJwk }), claims(), hs256(attackerSecret)), "token_invalid")
      }
      // Our own probe is the first request the server ever sees.
      assert.equal((await (await fetch(url)).json() as { keys: unknown[] }).keys.length, 1)
      assert.equal(requests, 1)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe("verify() refuses any change to the signed bytes", () => {
  const next = (char: string) => ALPHABET[(ALPHABET.indexOf(char) + 1) % 64] as string
  const replaceAt = (text: string, index: number) => text.slice(0, index) + next(text[index] as string) + text.slice(index + 1)
  /** What a changed header must give: token_invalid while it still decodes to a JSON object, else token_malformed. */
  const expectedForHeader = (text: string): AuthErrorCode => {
    try {
      const value: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(text, "base64url")))
      return typeof value === "object" && value !== null && !Array.isArray(value) ? "token_invalid" : "token_malformed"
    } catch {
      return "token_malformed"
    }
  }

  test("any one character changed in the payload or signature is token_invalid", async () => {
    for (const kid of ["hs", "ed"] as Kid[]) {
      const [h, p, s] = split(good({}, kid))
      for (let i = 0; i < p.length; i++) await refused(`${h}.${replaceAt(p, i)}.${s}`, "token_invalid")
      for (let i = 0; i < s.length; i++) await refused(`${h}.${p}.${replaceAt(s, i)}`, "token_invalid")
    }
  })

  test("any one character changed in the header is refused: token_invalid, or token_malformed when it no longer decodes", async () => {
    const [h, p, s] = split(good())
    const seen = new Set<AuthErrorCode>()
    for (let i = 0; i < h.length; i++) {
      const changed = replaceAt(h, i)
      const expected = expectedForHeader(changed)
      seen.add(expected)
      await refused(`${changed}.${p}.${s}`, expected)
    }
    assert.deepEqual([...seen].sort(), ["token_invalid", "token_malformed"])
  })

  test("a one-byte change to the decoded header or payload is token_invalid", async () => {
    const now = Math.floor(Date.now() / 1000)
    const body = { iss: ISSUER, sub: "alice", aud: AUDIENCE, iat: now, exp: now + 60, jti: "j1", sid: "s1", gen: 0 }
    const token = forge(header(), body, SIGNER.hs)
    const [h, p, s] = split(token)
    const headerText = Buffer.from(h, "base64url").toString()
    const payloadText = Buffer.from(p, "base64url").toString()
    const swap = (text: string, from: string, to: string) => {
      assert.ok(text.includes(from))
      assert.equal(from.length, to.length)
      return segment(text.replace(from, to))
    }
    const headerChanges: [string, string][] = [['"hs"', '"ht"'], ["at+jwt", "rt+jwt"], ["at+jwt", "AT+jwt"], ['"kid"', '"kie"']]
    for (const [from, to] of headerChanges) {
      await refused(`${swap(headerText, from, to)}.${p}.${s}`, "token_invalid")
    }
    const payloadChanges: [string, string][] = [['"alice"', '"alicf"'], ['"gen":0', '"gen":1'], ['"j1"', '"j2"'], [`${now + 60}`, `${now + 69}`]]
    for (const [from, to] of payloadChanges) {
      await refused(`${h}.${swap(payloadText, from, to)}.${s}`, "token_invalid")
    }
  })

  test("a non-canonical last signature character (same bytes), a padded, truncated or extended signature are refused", async () => {
    for (const kid of Object.keys(ALG) as Kid[]) {
      const token = good({}, kid)
      const [h, p, s] = split(token)
      const last = s[s.length - 1] as string
      // The low bit of the last character is never part of a byte for these lengths (32, 64 and 256 bytes).
      const variant = s.slice(0, -1) + (ALPHABET[ALPHABET.indexOf(last) ^ 1] as string)
      assert.deepEqual(Buffer.from(variant, "base64url"), Buffer.from(s, "base64url"))
      await refused(`${h}.${p}.${variant}`, "token_invalid")
      await refused(`${h}.${p}.${s}A`, "token_invalid")
      await refused(`${h}.${p}.${s}AAAA`, "token_invalid")
      await refused(`${h}.${p}.${s.slice(0, -1)}`, "token_invalid")
      await refused(`${h}.${p}.${s.slice(0, -4)}`, "token_invalid")
      await refused(`${h}.${p}.${s}=`, "token_malformed")
      assert.equal((await auth.verify(token)).iss, ISSUER)
    }
  })

  test("ES256: a DER signature and r = s = 0 or n are token_invalid", async () => {
    const body = claims()
    await refused(forge(header("ec"), body, signWith("ES256", ec.privateKey, { dsaEncoding: "der" })), "token_invalid")
    const n = Buffer.from(P256_N.toString(16), "hex")
    for (const raw of [Buffer.alloc(64), Buffer.concat([n, n]), Buffer.concat([Buffer.alloc(32), n]), Buffer.alloc(64, 0xff)]) {
      await refused(forge(header("ec"), body, unsigned(raw.toString("base64url"))), "token_invalid")
    }
    // DER SEQUENCE { INTEGER 0, INTEGER 0 }
    await refused(forge(header("ec"), body, unsigned(Buffer.from("3006020100020100", "hex").toString("base64url"))), "token_invalid")
  })

  test("EdDSA: a signature whose S is pushed past the group order (S + L) is token_invalid", async () => {
    const L = 2n ** 252n + 27742317777372353535851937790883648493n
    const [h, p, s] = split(good({}, "ed"))
    const bytes = Buffer.from(s, "base64url")
    const sValue = BigInt(`0x${Buffer.from(bytes.subarray(32)).reverse().toString("hex")}`)
    const pushed = Buffer.from((sValue + L).toString(16).padStart(64, "0"), "hex").reverse()
    await refused(`${h}.${p}.${Buffer.concat([bytes.subarray(0, 32), pushed]).toString("base64url")}`, "token_invalid")
    await refused(`${h}.${p}.${Buffer.alloc(64).toString("base64url")}`, "token_invalid")
  })

  test("ES256: the high-S twin of a signature verifies as the same jti, so revoking either revokes both", async () => {
    const twin = (token: string): string => {
      const [h, p, s] = split(token)
      const bytes = Buffer.from(s, "base64url")
      const sValue = BigInt(`0x${bytes.subarray(32).toString("hex")}`)
      const flipped = Buffer.from((P256_N - sValue).toString(16).padStart(64, "0"), "hex")
      return `${h}.${p}.${Buffer.concat([bytes.subarray(0, 32), flipped]).toString("base64url")}`
    }
    for (const revokeTwin of [false, true]) {
      const original = good({}, "ec")
      const variant = twin(original)
      assert.notEqual(variant, original)
      // node:crypto (OpenSSL) accepts either S, and signs with either: a low-S rule would refuse our own tokens.
      const a = await auth.verify(original)
      const b = await auth.verify(variant)
      assert.equal(b.jti, a.jti)
      assert.notEqual(await auth.revoke(revokeTwin ? variant : original), null)
      await refused(original, "token_revoked")
      await refused(variant, "token_revoked")
    }
  })
})

describe("verify() checks the claims", () => {
  const NOW = Date.UTC(2026, 0, 15, 12, 0, 0)
  const now = NOW / 1000
  const strict = makeAuth({ leeway: 0 })

  test("a wrong, look-alike, missing or array iss is token_invalid", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW })
    for (const iss of ["https://other.test", "https://issuer.test/", "https://ıssuer.test", "https://іssuer.test", "https://issuer.test\u200b", "HTTPS://ISSUER.TEST", "https://issuer.tеst", [ISSUER], [ISSUER, ISSUER], { iss: ISSUER }, null, 1, ""]) {
      await refused(good({ iss }), "token_invalid")
    }
    const { iss: _, ...noIss } = claims()
    await refused(forge(header(), noIss, SIGNER.hs), "token_invalid")
  })

  test("a wrong, missing or array aud is token_invalid; each configured audience is accepted", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW })
    for (const aud of ["other", "API", "api ", [AUDIENCE], [AUDIENCE, "other"], [], null, 1, ""]) {
      await refused(good({ aud }), "token_invalid")
    }
    const { aud: _, ...noAud } = claims()
    await refused(forge(header(), noAud, SIGNER.hs), "token_invalid")
    const multi = makeAuth({ audience: ["api", "admin"] })
    assert.equal((await multi.verify(good({ aud: "admin" }))).aud, "admin")
    await refused(good({ aud: "other" }), "token_invalid", multi)
  })

  test("exp or iat missing, a string, null, non-finite or not a number is token_invalid", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW })
    for (const name of ["exp", "iat"]) {
      const { [name]: _, ...without } = claims()
      await refused(forge(header(), without, SIGNER.hs), "token_invalid")
      for (const value of [String(now + 60), null, true, [now + 60], { value: now + 60 }]) {
        await refused(good({ [name]: value }), "token_invalid")
      }
      for (const text of ["1e400", "-1e400"]) {
        const { [name]: _drop, ...rest } = claims()
        await refused(forge(header(), `${JSON.stringify(rest).slice(0, -1)},"${name}":${text}}`, SIGNER.hs), "token_invalid")
      }
    }
    for (const nbf of [String(now), null, true]) await refused(good({ nbf }), "token_invalid")
  })

  test("sub, jti, sid missing or empty and a bad gen are token_invalid", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW })
    for (const name of ["sub", "jti", "sid"]) {
      for (const value of ["", null, 1]) await refused(good({ [name]: value }), "token_invalid")
      const { [name]: _, ...without } = claims()
      await refused(forge(header(), without, SIGNER.hs), "token_invalid")
    }
    for (const gen of [-1, 1.5, "0", null, 2 ** 53]) await refused(good({ gen }), "token_invalid")
  })

  test("a sub, jti or sid no store could keep exactly (NUL, a lone surrogate) is token_invalid; paired surrogates are fine", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW })
    for (const name of ["sub", "jti", "sid"]) {
      // Such a token could never be matched by a revocation of its own id: PostgreSQL refuses NUL, and a lone
      // surrogate comes back from a store as U+FFFD, another id.
      for (const value of ["a\u0000b", "\u0000", "a\ud800", "\udc00b"]) await refused(good({ [name]: value }), "token_invalid")
    }
    assert.equal((await auth.verify(good({ sub: "émile 😀" }))).sub, "émile 😀")
  })

  test("exp 0 is token_expired; exp == now with leeway 0 is token_expired, one second later it is accepted", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW })
    await refused(good({ exp: 0 }), "token_expired")
    await refused(good({ exp: 0, iat: 0 }), "token_expired")
    await refused(good({ exp: now, iat: now - 60 }), "token_expired", strict)
    assert.equal((await strict.verify(good({ exp: now + 1, iat: now - 60 }))).exp, now + 1)
    t.mock.timers.tick(999)
    assert.equal((await strict.verify(good({ exp: now + 1, iat: now - 60 }))).exp, now + 1)
    t.mock.timers.tick(1)
    await refused(good({ exp: now + 1, iat: now - 60 }), "token_expired", strict)
  })

  test("exp is honoured with the leeway: expired at exp + leeway, accepted just before", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW })
    await refused(good({ exp: now - 30, iat: now - 90 }), "token_expired")
    assert.equal((await auth.verify(good({ exp: now - 29, iat: now - 89 }))).exp, now - 29)
  })

  test("nbf or iat in the future beyond the leeway is token_not_yet_valid; just inside it is accepted", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW })
    await refused(good({ nbf: now + 31 }), "token_not_yet_valid")
    await refused(good({ iat: now + 31, exp: now + 91 }), "token_not_yet_valid")
    assert.equal((await auth.verify(good({ nbf: now + 30 }))).nbf, now + 30)
    assert.equal((await auth.verify(good({ iat: now + 30, exp: now + 90 }))).iat, now + 30)
    await refused(good({ nbf: now + 1 }), "token_not_yet_valid", strict)
    await refused(good({ iat: now + 1, exp: now + 61 }), "token_not_yet_valid", strict)
    assert.equal((await strict.verify(good({ nbf: now }))).nbf, now)
  })

  test("a lifetime (exp - iat) beyond the configured maximum is token_invalid, for each token type", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW })
    const short = makeAuth({ accessTtl: "5m", refreshTtl: "1h" })
    await refused(good({ exp: now + 301 }), "token_invalid", short)
    assert.equal((await short.verify(good({ exp: now + 300 }))).exp, now + 300)
    await refused(good({ iat: now - 1e12, exp: now + 60 }), "token_invalid", short)
    const refresh = (exp: number) => forge(header("hs", { typ: "rt+jwt" }), claims({ exp }), SIGNER.hs)
    await refused(refresh(now + 3601), "token_invalid", short, "refresh")
    assert.equal((await short.verify(refresh(now + 3600), { type: "refresh" })).exp, now + 3600)
    // The default access lifetime is 15 minutes.
    await refused(good({ exp: now + 901 }), "token_invalid")
  })

  test("duplicate payload members: the last wins, and the revocation check uses that same value", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW })
    const local = makeAuth()
    const { jti: _, ...base } = claims()
    const duplicated = forge(header(), `${JSON.stringify(base).slice(0, -1)},"jti":"a","jti":"b"}`, SIGNER.hs)
    assert.equal((await local.verify(duplicated)).jti, "b")
    assert.notEqual(await local.revoke(good({ jti: "a" })), null)
    assert.equal((await local.verify(duplicated)).jti, "b")
    assert.notEqual(await local.revoke(good({ jti: "b" })), null)
    await refused(duplicated, "token_revoked", local)
    await refused(forge(header(), claimsText('"exp":0', { iat: 0 }), SIGNER.hs), "token_expired")
    await refused(forge(header(), claimsText(`"sub":"bob","sub":""`), SIGNER.hs), "token_invalid")
  })

  test("__proto__ and constructor claims or header members pollute nothing", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW })
    const hostile = '"__proto__":{"admin":true,"polluted":true},"constructor":{"prototype":{"polluted":true}}'
    const accepted = [forge(header(), claimsText(hostile), SIGNER.hs), forge(`{"alg":"HS256","kid":"hs","typ":"at+jwt",${hostile}}`, claims(), SIGNER.hs)]
    for (const token of accepted) {
      const verified: Record<string, unknown> = await auth.verify(token)
      assert.equal(Object.getPrototypeOf(verified), Object.prototype)
      assert.equal(verified.admin, undefined)
      assert.equal(verified.polluted, undefined)
      for (const name in verified) assert.ok(Object.hasOwn(verified, name), `inherited claim ${name}`)
      assert.equal(({} as Record<string, unknown>).polluted, undefined)
      assert.equal(({} as Record<string, unknown>).admin, undefined)
      assert.equal(Object.hasOwn(Object.prototype, "polluted"), false)
    }
    // The header whose members hide behind __proto__ has no alg of its own.
    await refused(forge(`{"__proto__":{"alg":"HS256","kid":"hs","typ":"at+jwt"}}`, claims(), SIGNER.hs), "token_invalid")
  })
})

describe("verify() keeps token types and keys apart", () => {
  test("a refresh token used as an access token, and the reverse, is wrong_token_type", async () => {
    const pair = await auth.issue("alice")
    await refused(pair.refreshToken, "wrong_token_type")
    await refused(pair.accessToken, "wrong_token_type", auth, "refresh")
    await assert.rejects(auth.refresh(pair.accessToken), { code: "wrong_token_type" })
    await assert.rejects(auth.logout(pair.refreshToken), { code: "wrong_token_type" })
    await refused(forge(header("ed", { typ: "rt+jwt" }), claims(), SIGNER.ed), "wrong_token_type")
    assert.equal((await auth.verify(pair.refreshToken, { type: "refresh" })).sid, pair.sessionId)
  })

  test("tokens signed by a retired static key are token_revoked; new tokens use the next key", async () => {
    const other = generateKeyPairSync("ed25519")
    const local = makeAuth({ keys: [{ kid: "old", alg: "EdDSA", privateKey: ed.privateKey }, { kid: "new", alg: "EdDSA", privateKey: other.privateKey }] })
    const pair = await local.issue("alice")
    assert.equal(decode(split(pair.accessToken)[0]).kid, "old")
    await local.retireKey("old")
    await refused(pair.accessToken, "token_revoked", local)
    await refused(pair.refreshToken, "token_revoked", local, "refresh")
    await assert.rejects(local.refresh(pair.refreshToken), { code: "token_revoked" })
    const next = await local.issue("alice")
    assert.equal(decode(split(next.accessToken)[0]).kid, "new")
    assert.equal((await local.verify(next.accessToken)).sub, "alice")
  })

  test("tokens signed by a retired managed key are token_revoked on every instance", async () => {
    const store = memoryStore()
    const first = makeAuth({ keys: undefined, store })
    const second = makeAuth({ keys: undefined, store })
    const pair = await first.issue("alice")
    const kid = decode(split(pair.accessToken)[0]).kid as string
    assert.equal((await second.verify(pair.accessToken)).sub, "alice")
    await first.retireKey(kid)
    await refused(pair.accessToken, "token_revoked", first)
    await refused(pair.accessToken, "token_revoked", second)
    const next = await first.issue("alice")
    assert.notEqual(decode(split(next.accessToken)[0]).kid, kid)
    assert.equal((await first.verify(next.accessToken)).sub, "alice")
  })
})

describe("errors", () => {
  test("a token refused carries no stack trace (it is an answer, as frequent as tokens are sent); other errors keep theirs", async () => {
    const frames = (error: Error) => (error.stack ?? "").split("\n").filter((line) => line.trimStart().startsWith("at ")).length
    const limit = Error.stackTraceLimit
    const pair = await auth.issue("stackless")
    await auth.revoke(pair.accessToken)
    for (const token of [pair.accessToken, "not a token", good({ exp: 1 })]) {
      await assert.rejects(auth.verify(token), (error: unknown) => {
        assert.ok(error instanceof AuthError)
        assert.equal(frames(error), 0, `${error.code}: ${error.stack}`)
        assert.match(error.stack ?? "", /^AuthError: /)
        return true
      })
    }
    for (const code of ["token_missing", "token_malformed", "token_invalid", "token_expired", "token_not_yet_valid", "token_revoked", "wrong_token_type"] as const) {
      assert.equal(frames(new AuthError(code)), 0, code)
    }
    for (const code of ["store_unavailable", "invalid_request", "forbidden", "refresh_token_reused"] as const) {
      assert.ok(frames(new AuthError(code)) > 0, `${code} keeps its stack`)
    }
    assert.equal(Error.stackTraceLimit, limit, "the process's own limit is left as it was")
  })

  test("each refusal of a token's form, header or signature says what is wrong", async () => {
    const [h, p, s] = split(good())
    const utf8 = (text: string) => Buffer.concat([Buffer.from(text), Buffer.from([0xff]), Buffer.from('"}')])
    const cases: [unknown, AuthErrorCode, RegExp][] = [
      [42, "token_malformed", /must be a string/],
      ["A".repeat(9000), "token_malformed", /longer than 8192/],
      ...["abc", `${h}.${p}`, `.${p}.${s}`, `${h}..${s}`, `${h}.${p}.`, `${h}.${p}.${s}.${s}`].map((token): [string, AuthErrorCode, RegExp] => [token, "token_malformed", /three non-empty segments/]),
      [`${h}.${p}!.${s}`, "token_malformed", /outside base64url/],
      [`${h}.${p}.${s}!`, "token_malformed", /outside base64url/],
      [`${h}.${p}.${s.slice(0, -2)}AA`, "token_invalid", /signature is invalid/],
      [forge(header("hs", { x: "x".repeat(1500) }), claims(), SIGNER.hs), "token_malformed", /header is too large/],
      [`AAAAA.${p}.${s}`, "token_malformed", /header is not base64url/],
      ["a.b.c", "token_malformed", /header is not base64url/],
      [forge(utf8('{"alg":"HS256","kid":"hs","typ":"at+jwt","x":"'), claims(), SIGNER.hs), "token_malformed", /header is not valid UTF-8/],
      [forge("not json", claims(), SIGNER.hs), "token_malformed", /header is not JSON\./],
      [forge("[]", claims(), SIGNER.hs), "token_malformed", /header is not a JSON object/],
      [forge('{"alg":"HS256","kid":"hs","typ":"at+jwt","kid":"hs"}', claims(), SIGNER.hs), "token_malformed", /duplicate members/],
      [forge(header("hs", { crit: ["exp"] }), claims(), SIGNER.hs), "token_invalid", /crit is not supported/],
      [forge(header("hs", { b64: false }), claims(), SIGNER.hs), "token_invalid", /b64 is not supported/],
      [forge(header("hs", { alg: "none" }), claims(), SIGNER.hs), "token_invalid", /algorithm is not accepted/],
      [forge({ alg: "HS256", typ: "at+jwt" }, claims(), SIGNER.hs), "token_invalid", /no kid/],
      [forge(header("hs", { kid: "../hs" }), claims(), SIGNER.hs), "token_invalid", /kid is not one a key can have/],
      [forge(header("hs", { typ: "JWT" }), claims(), SIGNER.hs), "token_invalid", /no accepted typ/],
      [forge(header("hs", { kid: "nobody" }), claims(), SIGNER.hs), "token_invalid", /unknown key/],
      [forge(header("hs", { alg: "EdDSA" }), claims(), SIGNER.hs), "token_invalid", /algorithm does not match its key/],
      [`${h}.AAAAA.${SIGNER.hs(`${h}.AAAAA`)}`, "token_malformed", /payload is not base64url/],
      [forge(header(), utf8(`${JSON.stringify(claims()).slice(0, -1)},"x":"`), SIGNER.hs), "token_malformed", /payload is not valid UTF-8/],
      [forge(header(), "not json", SIGNER.hs), "token_malformed", /payload is not JSON\./],
      [forge(header(), "[]", SIGNER.hs), "token_malformed", /payload is not a JSON object/],
    ]
    for (const [token, code, message] of cases) {
      await assert.rejects(auth.verify(token), (error: unknown) => {
        assert.ok(error instanceof AuthError)
        assert.equal(error.code, code, `${error.code}: ${error.message}`)
        assert.match(error.message, message)
        assertNoToken(error, token)
        return true
      })
    }
  })

  test("each token_invalid from a claim names the claim", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: Date.UTC(2026, 0, 15) })
    const now = Date.UTC(2026, 0, 15) / 1000
    const { exp: _exp, ...noExp } = claims()
    const { iat: _iat, ...noIat } = claims()
    const cases: [string, RegExp][] = [
      [good({ iss: "https://other.test" }), /issuer/],
      [good({ aud: "other" }), /audience/],
      [forge(header(), noExp, SIGNER.hs), /\bexp\b/],
      [forge(header(), noIat, SIGNER.hs), /\biat\b/],
      [good({ nbf: "soon" }), /\bnbf\b/],
      [good({ sub: "" }), /subject/],
      [good({ jti: "" }), /\bjti\b/],
      [good({ sid: "" }), /session id/],
      [good({ sid: "a\u0000b" }), /NUL/],
      [good({ gen: -1 }), /\bgen\b/],
      [good({ iat: now - 1000, exp: now + 60 }), /lifetime/],
    ]
    for (const [token, message] of cases) await assert.rejects(auth.verify(token), (error: unknown) => error instanceof AuthError && error.code === "token_invalid" && message.test(error.message))
  })

  test("error messages never contain the token", async () => {
    const pair = await auth.issue("alice")
    const [h, p, s] = split(pair.accessToken)
    const cases: [string, AuthErrorCode][] = [
      [pair.refreshToken, "wrong_token_type"],
      [`${h}.${p}.${s.slice(0, -2)}AA`, "token_invalid"],
      [`${h}.${p}+.${s}`, "token_malformed"],
      [`${h}.${p}`, "token_malformed"],
      [`${pair.accessToken}${"A".repeat(9000)}`, "token_malformed"],
    ]
    for (const [token, code] of cases) await refused(token, code)
    await auth.revoke(pair.accessToken)
    await refused(pair.accessToken, "token_revoked")
    for (const payload of ["payload-as-text", "x".repeat(40)]) await refused(forge(header(), payload, SIGNER.hs), "token_malformed")
  })
})
