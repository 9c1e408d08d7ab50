// Key wrapping: a managed signing key is stored as a standard compact JWE (A256GCMKW + A256GCM) under a key-encryption
// key (KEK); tampering, a missing KEK or another key's envelope are refused by name; and the KEK settings.
import assert from "node:assert/strict"
import { generateKeyPairSync, randomBytes } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, describe, test } from "node:test"
import { compactDecrypt, decodeProtectedHeader } from "jose"
import { ConfigError, loadConfig } from "../../src/server/config.ts"
import { keyEncryptionKey, parseKeyEncryptionKeys, unwrapKey, wrapKey, wrappedUnder } from "../../src/server/keywrap.ts"

const dir = mkdtempSync(join(tmpdir(), "revocable-keywrap-"))
after(() => rmSync(dir, { recursive: true, force: true }))

const KEK_BYTES = randomBytes(32)
const KEK = keyEncryptionKey(KEK_BYTES)
const OTHER = keyEncryptionKey(randomBytes(32))
const JWK = JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }))
const OWNER = { kid: "k1", alg: "EdDSA" }

describe("wrapKey and unwrapKey", () => {
  test("a wrapped key is a compact JWE that jose opens with the KEK alone, naming the KEK and the signing key", async () => {
    const wrapped = wrapKey(JWK, OWNER, KEK)
    assert.equal(wrapped.split(".").length, 5)
    assert.ok(!wrapped.includes(JSON.parse(JWK).d), "the private key does not show through")
    const { iv, tag, ...header } = decodeProtectedHeader(wrapped)
    assert.equal(Buffer.from(String(iv), "base64url").length, 12)
    assert.equal(Buffer.from(String(tag), "base64url").length, 16)
    assert.deepEqual(header, {
      alg: "A256GCMKW",
      enc: "A256GCM",
      kid: KEK.id,
      cty: "jwk+json",
      signing_kid: "k1",
      signing_alg: "EdDSA",
    })
    const { plaintext } = await compactDecrypt(wrapped, KEK_BYTES)
    assert.equal(new TextDecoder().decode(plaintext), JWK)
    assert.equal(unwrapKey(wrapped, OWNER, [OTHER, KEK]), JWK)
    assert.equal(wrappedUnder(wrapped), KEK.id)
    assert.notEqual(wrapKey(JWK, OWNER, KEK), wrapped, "every wrap uses fresh keys and nonces")
  })

  test("a key wrapped under a KEK that is not configured is refused, naming that KEK and how to fix it", () => {
    assert.throws(() => unwrapKey(wrapKey(JWK, OWNER, OTHER), OWNER, [KEK]), {
      message: `Signing key k1 is wrapped under the key-encryption key ${OTHER.id}, which is not configured: add it to REVOCABLE_KEY_ENCRYPTION_KEY (after the newest) until \`revocable keys rewrap\` has run.`,
    })
  })

  test("an altered envelope, or one moved to another key's row, is refused", () => {
    const wrapped = wrapKey(JWK, OWNER, KEK)
    const [header, encryptedKey, iv, ciphertext, tag] = wrapped.split(".") as [string, string, string, string, string]
    const flipped = (part: string) => {
      const bytes = Buffer.from(part, "base64url")
      bytes[0] = (bytes[0] as number) ^ 1
      return bytes.toString("base64url")
    }
    for (const altered of [
      [header, flipped(encryptedKey), iv, ciphertext, tag],
      [header, encryptedKey, iv, flipped(ciphertext), tag],
      [header, encryptedKey, iv, ciphertext, flipped(tag)],
      [header, encryptedKey, flipped(iv), ciphertext, tag],
    ]) {
      assert.throws(() => unwrapKey(altered.join("."), OWNER, [KEK]), { message: `Signing key k1 could not be unwrapped with the key-encryption key ${KEK.id}: the stored key was altered.` })
    }
    // A header changed to name another signing key no longer authenticates the content.
    const renamed = Buffer.from(JSON.stringify({ ...decodeProtectedHeader(wrapped), signing_kid: "k2" })).toString("base64url")
    assert.throws(() => unwrapKey([renamed, encryptedKey, iv, ciphertext, tag].join("."), { kid: "k2", alg: "EdDSA" }, [KEK]), /could not be unwrapped/)
    assert.throws(() => unwrapKey(wrapped, { kid: "k2", alg: "EdDSA" }, [KEK]), { message: "Signing key k2 holds the wrapped key of another key: the store was altered." })
    assert.throws(() => unwrapKey(wrapped, { kid: "k1", alg: "ES256" }, [KEK]), /holds the wrapped key of another key/)
    assert.throws(() => unwrapKey("not.a.jwe", OWNER, [KEK]), /neither a JWK nor a key wrapped by revocable/)
  })
})

describe("parseKeyEncryptionKeys", () => {
  test("reads 32-byte keys in base64, base64url or hex, several separated by commas or white space, newest first", () => {
    const second = randomBytes(32)
    const keys = parseKeyEncryptionKeys(` ${KEK_BYTES.toString("base64")},\n${second.toString("base64url")} ${randomBytes(32).toString("hex")}\n`)
    assert.equal(keys.length, 3)
    assert.equal(keys[0]?.id, KEK.id)
    assert.equal(keys[1]?.id, keyEncryptionKey(second).id)
    assert.equal(parseKeyEncryptionKeys(KEK_BYTES.toString("base64").replace(/=$/, ""))[0]?.id, KEK.id)
  })

  test("refuses keys of another length or alphabet, and a key listed twice, without quoting them", () => {
    const secretLooking = randomBytes(31).toString("base64")
    for (const text of [secretLooking, randomBytes(33).toString("base64"), "x".repeat(43) + "!", randomBytes(32).toString("hex").slice(1), ","]) {
      assert.throws(() => parseKeyEncryptionKeys(text), (error: unknown) => error instanceof TypeError && !error.message.includes(text.trim()) && /openssl rand -base64 32/.test(error.message))
    }
    assert.throws(() => parseKeyEncryptionKeys(`${KEK_BYTES.toString("base64")},${KEK_BYTES.toString("hex")}`), { message: "lists the same key twice." })
  })
})

describe("the key-encryption key settings", () => {
  const kek = KEK_BYTES.toString("base64")

  function refusal(env: Record<string, string>): ConfigError {
    try {
      loadConfig(env)
    } catch (error) {
      assert.ok(error instanceof ConfigError)
      return error
    }
    assert.fail("expected a ConfigError")
  }

  test("PostgreSQL and Redis refuse to start without a KEK, saying how to make one, unless plaintext keys are asked for", () => {
    for (const store of ["postgres://db/auth", "redis://cache:6379"]) {
      const error = refusal({ REVOCABLE_STORE: store })
      assert.equal(error.variable, "REVOCABLE_KEY_ENCRYPTION_KEY")
      assert.match(error.message, /^REVOCABLE_KEY_ENCRYPTION_KEY is not set\. .*make one with `openssl rand -base64 32`.*REVOCABLE_INSECURE_PLAINTEXT_KEYS=true/)
      const insecure = loadConfig({ REVOCABLE_STORE: store, REVOCABLE_INSECURE_PLAINTEXT_KEYS: "true" })
      assert.equal(insecure.keyEncryptionKeys, null)
      assert.equal(insecure.insecurePlaintextKeys, true)
      assert.deepEqual(loadConfig({ REVOCABLE_STORE: store, REVOCABLE_KEY_ENCRYPTION_KEY: kek }).keyEncryptionKeys?.map((key) => key.id), [KEK.id])
    }
    assert.equal(loadConfig({}).keyEncryptionKeys, null, "SQLite makes its own")
    assert.equal(loadConfig({ REVOCABLE_STORE: "sqlite:/tmp/x.db" }).keyEncryptionKeys, null)
  })

  test("REVOCABLE_KEY_ENCRYPTION_KEY_FILE names a file of keys; both settings at once, or a bad one, are refused by name", () => {
    const file = join(dir, "kek")
    writeFileSync(file, `${kek}\n${randomBytes(32).toString("base64")}\n`, { mode: 0o600 })
    assert.equal(loadConfig({ REVOCABLE_STORE: "redis://cache", REVOCABLE_KEY_ENCRYPTION_KEY_FILE: file }).keyEncryptionKeys?.length, 2)
    assert.equal(loadConfig({ REVOCABLE_KEY_ENCRYPTION_KEY_FILE: file }).keyEncryptionKeys?.[0]?.id, KEK.id)
    assert.equal(refusal({ REVOCABLE_KEY_ENCRYPTION_KEY: kek, REVOCABLE_KEY_ENCRYPTION_KEY_FILE: file }).message, "Set REVOCABLE_KEY_ENCRYPTION_KEY or REVOCABLE_KEY_ENCRYPTION_KEY_FILE, not both.")
    const missing = refusal({ REVOCABLE_KEY_ENCRYPTION_KEY_FILE: join(dir, "absent") })
    assert.equal(missing.variable, "REVOCABLE_KEY_ENCRYPTION_KEY_FILE")
    assert.equal(missing.message, "REVOCABLE_KEY_ENCRYPTION_KEY_FILE names a file that cannot be read (ENOENT).")
    const wrong = refusal({ REVOCABLE_KEY_ENCRYPTION_KEY: "hunter2" })
    assert.equal(wrong.variable, "REVOCABLE_KEY_ENCRYPTION_KEY")
    assert.ok(!wrong.message.includes("hunter2"))
    const configFile = join(dir, "config.json")
    writeFileSync(configFile, JSON.stringify({ store: "postgres://db/auth", keyEncryptionKey: kek }))
    assert.equal(loadConfig({ REVOCABLE_CONFIG: configFile }).keyEncryptionKeys?.[0]?.id, KEK.id)
  })
})
