// Properties of verify: a token issued is verified with its claims; any change to a valid token, however
// small, and anything that is not a token, is refused with an AuthError and never another exception.
import assert from "node:assert/strict"
import { generateKeyPairSync, randomBytes } from "node:crypto"
import { after, describe, test } from "node:test"
import fc from "fast-check"
import { createAuth, isAuthError, type Auth, type KeyInput, type TokenPair } from "../../src/index.ts"
import { RESERVED_CLAIMS } from "../../src/core/claims.ts"
import { MAX_TOKEN_LENGTH } from "../../src/core/tokens.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import { forge, hs256, signWith, split, type Signer } from "../helpers/forge.ts"
import { fuzz } from "./settings.ts"

const ISSUER = "https://issuer.test"
const AUDIENCE = "api"
const SECRET = randomBytes(32)
const ed = generateKeyPairSync("ed25519")
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/** One instance per algorithm, so that each signs with its own key. */
const KEYS: Record<"HS256" | "EdDSA", { key: KeyInput; signer: Signer }> = {
  HS256: { key: { kid: "hs", alg: "HS256", secret: SECRET }, signer: hs256(SECRET) },
  EdDSA: { key: { kid: "ed", alg: "EdDSA", privateKey: ed.privateKey }, signer: signWith("EdDSA", ed.privateKey) },
}
const ALGS = Object.keys(KEYS) as (keyof typeof KEYS)[]

const auths = {} as Record<keyof typeof KEYS, Auth>
/** Valid tokens of each instance, with the type each verifies as. */
const valid: { alg: keyof typeof KEYS; token: string; type: "access" | "refresh" }[] = []

// Made before the tests are declared: the arbitraries below draw from these tokens.
for (const alg of ALGS) {
  // Both keys in each ring (the first signs), so that a token of the other key is one it could verify.
  const keys = [KEYS[alg].key, ...ALGS.filter((other) => other !== alg).map((other) => KEYS[other].key)]
  auths[alg] = createAuth({ issuer: ISSUER, audience: AUDIENCE, store: memoryStore(), keys })
  await auths[alg].ready()
  for (const claims of [{}, { roles: ["admin"], name: "Zoë 😀" }]) {
    const pair = await auths[alg].issue("alice", { claims })
    valid.push({ alg, token: pair.accessToken, type: "access" }, { alg, token: pair.refreshToken, type: "refresh" })
  }
}

after(async () => {
  for (const auth of Object.values(auths)) await auth.close()
})

/** Refused with an AuthError by verify, as whichever type: anything else (a result, another error) fails. */
async function assertRefused(auth: Auth, token: unknown): Promise<void> {
  for (const type of ["access", "refresh"] as const) {
    let outcome: unknown
    try {
      outcome = await auth.verify(token, { type })
    } catch (error) {
      if (isAuthError(error)) continue
      throw new Error(`verify threw ${String(error)} (not an AuthError) for ${JSON.stringify(token)}`, { cause: error })
    }
    assert.fail(`verify accepted ${JSON.stringify(token)} as ${type}: ${JSON.stringify(outcome)}`)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Changes to a valid token

const validToken = () => fc.constantFrom(...valid)

/** A character unlike the one it replaces: any Latin-1 byte, the characters JWS gives a meaning, or any code unit. */
const replacement = fc.oneof(
  fc.constantFrom(...ALPHABET, ".", "=", "+", "/", " ", "\u0000", "%"),
  fc.integer({ min: 0, max: 0xff }).map((code) => String.fromCharCode(code)),
  fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
)

const byteChanged = fc
  .tuple(validToken(), fc.nat(), replacement)
  .map(([entry, at, char]) => {
    const index = at % entry.token.length
    return { ...entry, mutated: entry.token.slice(0, index) + char + entry.token.slice(index + 1) }
  })

const truncated = fc.tuple(validToken(), fc.nat(), fc.boolean()).map(([entry, at, fromStart]) => {
  const cut = at % entry.token.length
  return { ...entry, mutated: fromStart ? entry.token.slice(cut + 1) : entry.token.slice(0, cut) }
})

const extended = fc.tuple(validToken(), fc.nat(), fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.constantFrom(".", "=", "==", "A", ".A", "\n", " "))).map(
  ([entry, at, extra]) => {
    const index = at % (entry.token.length + 1)
    return { ...entry, mutated: entry.token.slice(0, index) + extra + entry.token.slice(index) }
  },
)

/** The same bytes (or the same JSON) written another way: padding, the base64 alphabet, stray bits, JSON spacing. */
const REENCODINGS: Record<string, (part: string, index: number) => string> = {
  padded: (part) => part + "=".repeat((4 - (part.length % 4)) % 4 || 1),
  "base64 alphabet": (part) => Buffer.from(part, "base64url").toString("base64"),
  "stray bits": (part) => {
    if (part.length % 4 === 0) return `${part}==`
    const last = ALPHABET.indexOf(part.at(-1) as string)
    return part.slice(0, -1) + (ALPHABET[last ^ 1] as string)
  },
  "JSON spacing": (part, index) => (index === 2 ? `${part}A` : Buffer.from(JSON.stringify(JSON.parse(Buffer.from(part, "base64url").toString()), null, 1)).toString("base64url")),
  "JSON member order": (part, index) => {
    if (index === 2) return part.slice(1)
    const members = Object.entries(JSON.parse(Buffer.from(part, "base64url").toString()) as Record<string, unknown>).reverse()
    return Buffer.from(JSON.stringify(Object.fromEntries(members))).toString("base64url")
  },
  "JSON escapes": (part, index) => {
    if (index === 2) return part.toLowerCase()
    const text = JSON.stringify(JSON.parse(Buffer.from(part, "base64url").toString())).replace(/[a-z]/, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)
    return Buffer.from(text).toString("base64url")
  },
}

const reencoded = fc.tuple(validToken(), fc.integer({ min: 0, max: 2 }), fc.constantFrom(...Object.keys(REENCODINGS))).map(([entry, index, how]) => {
  const parts = split(entry.token)
  parts[index] = (REENCODINGS[how] as (part: string, index: number) => string)(parts[index] as string, index)
  return { ...entry, mutated: parts.join(".") }
})

/** The parts of one or two valid tokens, in another order or another combination. */
const reordered = fc
  .tuple(validToken(), validToken(), fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 4 }))
  .map(([first, second, picks]) => {
    const pool = [...split(first.token), ...split(second.token)]
    return { ...first, mutated: picks.map((pick) => pool[pick] as string).join(".") }
  })

const changes = { "a single character changed": byteChanged, truncated, extended, "a part re-encoded": reencoded, "parts re-ordered or recombined": reordered }

describe("fuzz: verify refuses every change to a valid token with an AuthError", () => {
  for (const [name, change] of Object.entries(changes)) {
    test(`${name}`, async () => {
      await fuzz(
        fc.asyncProperty(change, async ({ mutated }) => {
          fc.pre(!valid.some((entry) => entry.token === mutated))
          // Each instance holds both keys: neither takes the other's token once changed.
          for (const alg of ALGS) await assertRefused(auths[alg], mutated)
        }),
        200,
      )
    })
  }

  test("anything that is not a token (any value, any text, dotted text) is refused with an AuthError", async () => {
    const dotted = fc.array(fc.oneof(fc.base64String(), fc.string(), fc.stringMatching(/^[A-Za-z0-9_-]{0,40}$/)), { minLength: 1, maxLength: 5 }).map((parts) => parts.join("."))
    await fuzz(
      fc.asyncProperty(fc.oneof(fc.anything(), fc.string({ unit: "binary" }), dotted), async (input) => {
        await assertRefused(auths.HS256, input)
      }),
      300,
    )
  })

  test("a token signed with the key, whatever its header and payload hold, is accepted or refused with an AuthError", async () => {
    const now = Math.floor(Date.now() / 1000)
    const claimValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.integer({ min: now - 120, max: now + 120 }), fc.constantFrom(ISSUER, AUDIENCE, "alice", "at+jwt", "rt+jwt"))
    const header = fc.record(
      { alg: fc.oneof(fc.constantFrom("HS256", "EdDSA", "none", "hs256"), claimValue), kid: fc.oneof(fc.constantFrom("hs", "ed", "", "../hs"), claimValue), typ: fc.oneof(fc.constantFrom("at+jwt", "rt+jwt", "application/AT+JWT", "JWT"), claimValue), crit: claimValue, b64: claimValue },
      { requiredKeys: [] },
    )
    const payload = fc.record(
      Object.fromEntries([...RESERVED_CLAIMS, "roles"].map((name) => [name, claimValue])),
      { requiredKeys: [] },
    )
    const body = fc.oneof(payload, fc.jsonValue({ maxDepth: 2 }), fc.string())
    await fuzz(
      fc.asyncProperty(header, body, fc.constantFrom(...ALGS), async (head, claims, alg) => {
        // A string is sent as the payload's exact text; any other value as its JSON.
        const token = forge(head, typeof claims === "string" ? claims : JSON.stringify(claims), KEYS[alg].signer)
        for (const type of ["access", "refresh"] as const) {
          try {
            await auths.HS256.verify(token, { type })
          } catch (error) {
            if (!isAuthError(error)) throw new Error(`verify threw ${String(error)} (not an AuthError) for ${token}`, { cause: error })
          }
        }
      }),
      300,
    )
  })
})

// ---------------------------------------------------------------------------------------------------------
// verify(issue(x)) gives back x

/** Text every store keeps as given (no NUL, no unpaired surrogate), as the core requires of ids. */
const storable = (options: { minLength?: number; maxLength: number }) =>
  fc.string({ unit: fc.oneof(fc.constantFrom("a", "é", "😀", "-", " "), fc.constantFrom(..."abcdefABC0129_"), fc.integer({ min: 1, max: 0xd7ff }).map((c) => String.fromCharCode(c))), ...options })

const appClaims = fc.dictionary(
  storable({ minLength: 1, maxLength: 12 }).filter((name) => !RESERVED_CLAIMS.has(name)),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 6 },
)

describe("fuzz: verify(issue(x)) returns x's claims", () => {
  for (const alg of ALGS) {
    test(`${alg}: the access token verifies with the subject and every claim given, the refresh token as refresh`, async () => {
      await fuzz(
        fc.asyncProperty(storable({ minLength: 1, maxLength: 1024 }), appClaims, fc.nat({ max: 8000 }), async (subject, given, blob) => {
          const auth = auths[alg]
          // Large enough, sometimes, for a token past MAX_TOKEN_LENGTH: issue must refuse it rather than mint one
          // that every verify refuses.
          const claims = blob === 0 ? given : { ...given, blob: "x".repeat(blob) }
          let pair: TokenPair
          try {
            pair = await auth.issue(subject, { claims })
          } catch (error) {
            assert.ok(isAuthError(error) && error.code === "invalid_request" && error.message.includes(String(MAX_TOKEN_LENGTH)), String(error))
            return
          }
          const verified = await auth.verify(pair.accessToken)
          assert.equal(verified.sub, subject)
          assert.equal(verified.sid, pair.sessionId)
          assert.equal(verified.iss, ISSUER)
          assert.equal(verified.aud, AUDIENCE)
          const expected = JSON.parse(JSON.stringify(claims)) as Record<string, unknown>
          for (const [name, value] of Object.entries(expected)) assert.deepEqual(verified[name], value, name)
          const refresh = await auth.verify(pair.refreshToken, { type: "refresh" })
          assert.equal(refresh.sub, subject)
          assert.equal(refresh.sid, pair.sessionId)
        }),
        100,
      )
    })
  }
})
