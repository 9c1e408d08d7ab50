// The decoders a token goes through, against reference models: base64url (base64url.ts) against Node's lenient
// decoder plus the strict rules the module promises, and the UTF-8 check of a token's header and payload
// (tokens.ts) against a fatal TextDecoder.
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { describe, test } from "node:test"
import fc from "fast-check"
import { isAuthError } from "../../src/index.ts"
import { base64urlLength, decodeBase64url, isBase64url, isCanonicalBase64url } from "../../src/core/base64url.ts"
import { importKey, KeyRing } from "../../src/core/keys.ts"
import { verifySignature } from "../../src/core/tokens.ts"
import { hs256, segment } from "../helpers/forge.ts"
import { fuzz } from "./settings.ts"

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
const STRICT = /^[A-Za-z0-9_-]*$/

// ---------------------------------------------------------------------------------------------------------
// The models

/** base64url.ts's promise: the alphabet only, no padding, no dangling character; then Node's bytes. */
function decodeModel(text: string): Buffer | null {
  if (!STRICT.test(text) || text.length % 4 === 1) return null
  return Buffer.from(text, "base64url")
}

/** The one text of `bytes` bytes: the bytes it decodes to encode back to it. */
function isCanonicalModel(text: string, bytes: number): boolean {
  if (!STRICT.test(text) || text.length % 4 === 1) return false
  const decoded = Buffer.from(text, "base64url")
  return decoded.length === bytes && decoded.toString("base64url") === text
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/** The text of valid UTF-8, or null. */
function utf8Model(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes)
  } catch {
    return null
  }
}

// ---------------------------------------------------------------------------------------------------------
// What they are fed: mostly near-base64url text, where the edge cases are

const nearAlphabet = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...ALPHABET) },
  { weight: 2, arbitrary: fc.constantFrom("+", "/", "=", " ", "\n", "\t", "\u0000", ".", "%", "\u00e9", "\u0141", "\uff21", "\u0130", "\u212a", "\ud800", "😀") },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)) },
)
const nearBase64url = fc.string({ unit: nearAlphabet, maxLength: 48 })
/** A valid encoding with one character replaced, added or removed. */
const edited = fc.tuple(fc.uint8Array({ maxLength: 36 }), fc.nat(), nearAlphabet, fc.constantFrom("replace", "insert", "delete")).map(([bytes, at, char, edit]) => {
  const text = Buffer.from(bytes).toString("base64url")
  const index = at % (text.length + 1)
  if (edit === "insert") return text.slice(0, index) + char + text.slice(index)
  return text.slice(0, index) + (edit === "replace" ? char : "") + text.slice(index + 1)
})
const texts = fc.oneof(nearBase64url, edited, fc.string({ unit: "binary", maxLength: 24 }))

describe("fuzz: the base64url decoder against its model", () => {
  test("decodeBase64url gives the model's bytes, or null exactly when the model refuses", async () => {
    await fuzz(
      fc.property(texts, (text) => {
        assert.deepEqual(decodeBase64url(text), decodeModel(text), JSON.stringify(text))
      }),
      3000,
    )
  })

  test("decodeBase64url gives back the bytes of every encoding Node makes", async () => {
    await fuzz(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        assert.deepEqual(decodeBase64url(Buffer.from(bytes).toString("base64url")), Buffer.from(bytes))
      }),
      1000,
    )
  })

  test("isBase64url holds exactly for the alphabet's text", async () => {
    await fuzz(
      fc.property(texts, (text) => {
        assert.equal(isBase64url(text), STRICT.test(text), JSON.stringify(text))
      }),
      2000,
    )
  })

  test("isCanonicalBase64url holds only for the one encoding of n bytes", async () => {
    const lengths = fc.integer({ min: 0, max: 40 })
    const canonical = fc.uint8Array({ maxLength: 36 }).map((bytes) => ({ text: Buffer.from(bytes).toString("base64url"), bytes: bytes.length }))
    const cases = fc.oneof(
      canonical,
      fc.tuple(canonical, lengths).map(([entry, bytes]) => ({ text: entry.text, bytes })),
      fc.tuple(edited, lengths).map(([text, bytes]) => ({ text, bytes })),
      fc.tuple(nearBase64url, lengths).map(([text, bytes]) => ({ text, bytes })),
      // The same bytes with a stray bit set in the last character.
      canonical.filter(({ text }) => text.length % 4 !== 0).map(({ text, bytes }) => ({ text: text.slice(0, -1) + (ALPHABET[ALPHABET.indexOf(text.at(-1) as string) ^ 1] as string), bytes })),
    )
    await fuzz(
      fc.property(cases, ({ text, bytes }) => {
        assert.equal(isCanonicalBase64url(text, bytes), isCanonicalModel(text, bytes), `${JSON.stringify(text)} as ${bytes} bytes`)
        if (isCanonicalModel(text, bytes)) assert.equal(text.length, base64urlLength(bytes))
      }),
      3000,
    )
  })
})

// ---------------------------------------------------------------------------------------------------------
// UTF-8: a token's header and payload are JSON in UTF-8; anything else is token_malformed

const SECRET = randomBytes(32)
const ring = new KeyRing([importKey({ kid: "hs", alg: "HS256", secret: SECRET })])
const sign = hs256(SECRET)
const HEADER = segment({ alg: "HS256", kid: "hs", typ: "at+jwt" })

/**
 * Bytes for the inside of a JSON string: mostly UTF-8 sequences, valid or broken (truncated, overlong,
 * surrogates, beyond U+10FFFF, stray continuation bytes), never the bytes JSON itself would refuse there.
 */
const stringBytes = fc
  .array(
    fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 3 }).map((text) => [...Buffer.from(text.replace(/["\\\u0000-\u001f]/g, ""))]),
      fc.constantFrom([0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80], [0xbf], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xfe], [0xff], [0xef, 0xbf, 0xbd]),
      fc.uint8Array({ minLength: 1, maxLength: 4 }).map((bytes) => [...bytes].filter((byte) => byte >= 0x20 && byte !== 0x22 && byte !== 0x5c)),
    ),
    { maxLength: 8 },
  )
  .map((chunks) => Buffer.from(chunks.flat()))

function verifyBytes(part: "header" | "payload", inner: Buffer): { ok: true; value: unknown } | { ok: false; message: string } {
  const json = Buffer.concat([Buffer.from(part === "header" ? '{"alg":"HS256","kid":"hs","typ":"at+jwt","x":"' : '{"sub":"'), inner, Buffer.from('"}')])
  const signingInput = part === "header" ? `${segment(json)}.${segment({ sub: "alice" })}` : `${HEADER}.${segment(json)}`
  try {
    const { payload } = verifySignature(`${signingInput}.${sign(signingInput)}`, ring)
    return { ok: true, value: part === "header" ? null : payload.sub }
  } catch (error) {
    if (!isAuthError(error)) throw error
    assert.equal(error.code, "token_malformed")
    return { ok: false, message: error.message }
  }
}

describe("fuzz: the UTF-8 check of a token's parts against a fatal TextDecoder", () => {
  for (const part of ["header", "payload"] as const) {
    test(`the ${part}: accepted with the model's text when valid UTF-8, refused as not UTF-8 when not`, async () => {
      await fuzz(
        fc.property(stringBytes, (inner) => {
          const expected = utf8Model(inner)
          const outcome = verifyBytes(part, inner)
          if (expected === null) {
            assert.equal(outcome.ok, false, `accepted ${inner.toString("hex")}`)
            assert.match((outcome as { message: string }).message, /UTF-8/)
          } else {
            assert.equal(outcome.ok, true, `refused ${inner.toString("hex")}: ${(outcome as { message?: string }).message}`)
            if (part === "payload") assert.equal((outcome as { value: unknown }).value, expected)
          }
        }),
        1500,
      )
    })
  }
})
