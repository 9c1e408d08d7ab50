// Strict base64url: one text per byte string, and nothing that Node's lenient decoder would skip or alias.
import assert from "node:assert/strict"
import { test } from "node:test"
import { base64urlLength, decodeBase64url, isBase64url, isCanonicalBase64url } from "../../src/core/base64url.ts"

const bytesOf = (length: number) => Buffer.from(Array.from({ length }, (_, i) => (i * 97 + 200) & 0xff))

test("decodeBase64url returns the bytes of unpadded base64url of every length", () => {
  for (let length = 0; length <= 9; length++) assert.deepEqual(decodeBase64url(bytesOf(length).toString("base64url")), bytesOf(length))
})

test("decodeBase64url refuses padding, the base64 alphabet, characters Node skips, a dangling character and non-ASCII look-alikes", () => {
  for (const text of ["QUJD=", "QUI=", "QU==", "QUJ+", "QUJ/", "QU!D", "QU D", "QUJD\n", "QUJDR", "A", "QUJ\u0141", "QUJ\u00e9", "Q\u0000JD"]) {
    assert.equal(decodeBase64url(text), null, JSON.stringify(text))
  }
})

test("isBase64url accepts A-Z, a-z, 0-9, - and _ only", () => {
  assert.equal(isBase64url("AZaz09-_"), true)
  assert.equal(isBase64url(""), true)
  for (const text of ["QUJD=", "+", "/", "a b", "\u0141"]) assert.equal(isBase64url(text), false, text)
})

test("isCanonicalBase64url accepts only the one encoding of n bytes: its length, its alphabet, no stray bits", () => {
  for (const length of [1, 2, 3, 32, 64, 256, 384]) {
    const text = bytesOf(length).toString("base64url")
    assert.equal(base64urlLength(length), text.length)
    assert.equal(isCanonicalBase64url(text, length), true, `${length} bytes`)
    assert.equal(isCanonicalBase64url(`${text}A`, length), false)
    assert.equal(isCanonicalBase64url(text.slice(0, -1), length), false)
    assert.equal(isCanonicalBase64url(`${text.slice(0, -1)}+`, length), false)
    assert.equal(isCanonicalBase64url(`${text.slice(0, -1)}=`, length), false)
    if (length % 3 !== 0) {
      // The last character's low bits are no part of any byte: setting one gives another text for the same bytes.
      const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
      const variant = text.slice(0, -1) + (ALPHABET[ALPHABET.indexOf(text.at(-1) as string) ^ 1] as string)
      assert.deepEqual(Buffer.from(variant, "base64url"), bytesOf(length))
      assert.equal(isCanonicalBase64url(variant, length), false, `${length} bytes, a stray bit`)
    }
  }
})
