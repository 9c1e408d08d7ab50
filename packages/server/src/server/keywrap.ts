// Envelope encryption of the managed signing keys: each private JWK is encrypted under a fresh content key, which
// is itself wrapped under a key-encryption key (KEK) the store never holds. The result is a compact JWE
// (RFC 7516) with "alg":"A256GCMKW" and "enc":"A256GCM" (RFC 7518 §4.7, §5.3), so any JOSE library given the KEK
// can open it; its protected header names the KEK by id and the signing key it belongs to.
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, type KeyObject } from "node:crypto"
import { readFileSync } from "node:fs"

/** A key-encryption key, with the id that stored keys record to say which KEK wrapped them. */
export interface KeyEncryptionKey {
  readonly id: string
  readonly key: KeyObject
}

const KEK_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16
const ALG = "A256GCMKW"
const ENC = "A256GCM"

export const MAKE_A_KEK = "openssl rand -base64 32"

/**
 * Reads KEKs from text: each 32 bytes in base64 (or base64url, or 64 hex digits), several separated by commas,
 * spaces or new lines, newest first. Throws a TypeError saying what is wrong, never quoting the text.
 */
export function parseKeyEncryptionKeys(text: string): KeyEncryptionKey[] {
  const items = text.split(/[\s,]+/).filter((item) => item !== "")
  if (items.length === 0) throw new TypeError(`holds no key; make one with: ${MAKE_A_KEK}`)
  const keys = items.map((item, index) => {
    const bytes = decodeKek(item)
    if (bytes === null) {
      throw new TypeError(`must hold keys of 32 random bytes in base64, separated by commas (key ${index + 1} is not); make one with: ${MAKE_A_KEK}`)
    }
    return keyEncryptionKey(bytes)
  })
  if (new Set(keys.map((kek) => kek.id)).size !== keys.length) throw new TypeError("lists the same key twice.")
  return keys
}

/** Reads the KEKs of a file (REVOCABLE_KEY_ENCRYPTION_KEY_FILE), one a line; throws a TypeError as parseKeyEncryptionKeys does. */
export function readKeyEncryptionKeyFile(path: string): KeyEncryptionKey[] {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (error) {
    throw new TypeError(`names a file that cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"}).`)
  }
  return parseKeyEncryptionKeys(text)
}

function decodeKek(text: string): Buffer | null {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, "hex")
  // 43 characters carry 256 bits; a 44th is base64's padding.
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) return null
  const bytes = Buffer.from(text.replace(/=$/, "").replaceAll("+", "-").replaceAll("/", "_"), "base64url")
  return bytes.length === KEK_BYTES ? bytes : null
}

export function keyEncryptionKey(bytes: Uint8Array): KeyEncryptionKey {
  const key = createSecretKey(bytes)
  // Names the KEK without revealing anything of it: a MAC of a fixed text under it.
  const id = createHmac("sha256", key).update("revocable key-encryption key id").digest("base64url").slice(0, 16)
  return { id, key }
}

/** A new KEK, as text for a file or a variable. */
export function generateKeyEncryptionKey(): string {
  return randomBytes(KEK_BYTES).toString("base64")
}

/** The KEKs of a store opened by the server (keystore.ts protectKeys gives them); none for a store opened otherwise. */
export function keyEncryptionKeysOf(store: object): readonly KeyEncryptionKey[] {
  return (store as { keyEncryptionKeys?: readonly KeyEncryptionKey[] }).keyEncryptionKeys ?? []
}

/** The signing key each wrapped JWK belongs to (or the secret, see secrets.ts): its protected header binds the ciphertext to it. */
interface Owner {
  kid: string
  alg: string
  /** Names it in errors; "Signing key <kid>" by default. */
  label?: string
}

const labelOf = (owner: Owner): string => owner.label ?? `Signing key ${owner.kid}`

/** Whether a stored private key is wrapped (a compact JWE) rather than a plaintext JWK (JSON). */
export function isWrapped(stored: string): boolean {
  return !stored.startsWith("{")
}

/** The id of the KEK a wrapped key is wrapped under. */
export function wrappedUnder(wrapped: string): string | null {
  const header = readHeader(wrapped)
  return typeof header?.kid === "string" ? header.kid : null
}

export function wrapKey(privateJwk: string, owner: Owner, kek: KeyEncryptionKey): string {
  const contentKey = randomBytes(KEK_BYTES)
  const wrapIv = randomBytes(IV_BYTES)
  const wrapping = createCipheriv("aes-256-gcm", kek.key, wrapIv)
  const encryptedKey = Buffer.concat([wrapping.update(contentKey), wrapping.final()])
  const header = {
    alg: ALG,
    enc: ENC,
    kid: kek.id,
    iv: wrapIv.toString("base64url"),
    tag: wrapping.getAuthTag().toString("base64url"),
    cty: "jwk+json",
    signing_kid: owner.kid,
    signing_alg: owner.alg,
  }
  const protectedHeader = Buffer.from(JSON.stringify(header)).toString("base64url")
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv("aes-256-gcm", contentKey, iv)
  cipher.setAAD(Buffer.from(protectedHeader, "ascii"))
  const ciphertext = Buffer.concat([cipher.update(privateJwk, "utf8"), cipher.final()])
  return [protectedHeader, encryptedKey, iv, ciphertext, cipher.getAuthTag()]
    .map((part) => (typeof part === "string" ? part : part.toString("base64url")))
    .join(".")
}

/** Opens a wrapped key with whichever of `keks` it names; throws an Error saying which KEK is missing or why it failed. */
export function unwrapKey(wrapped: string, owner: Owner, keks: readonly KeyEncryptionKey[]): string {
  const parts = wrapped.split(".")
  const header = readHeader(wrapped)
  if (parts.length !== 5 || header === null || header.alg !== ALG || header.enc !== ENC) {
    throw new Error(`${labelOf(owner)} is stored in a form that is neither a JWK nor a key wrapped by revocable.`)
  }
  const kek = keks.find((candidate) => candidate.id === header.kid)
  if (kek === undefined) {
    throw new Error(
      `${labelOf(owner)} is wrapped under the key-encryption key ${String(header.kid)}, which is not configured: ` +
        "add it to REVOCABLE_KEY_ENCRYPTION_KEY (after the newest) until `revocable keys rewrap` has run.",
    )
  }
  if (header.signing_kid !== owner.kid || header.signing_alg !== owner.alg) {
    throw new Error(`${labelOf(owner)} holds the wrapped key of another key: the store was altered.`)
  }
  const [protectedHeader, encryptedKey, iv, ciphertext, tag] = parts as [string, string, string, string, string]
  try {
    const unwrapping = createDecipheriv("aes-256-gcm", kek.key, bytes(header.iv, IV_BYTES)).setAuthTag(bytes(header.tag, TAG_BYTES))
    const contentKey = Buffer.concat([unwrapping.update(bytes(encryptedKey, KEK_BYTES)), unwrapping.final()])
    const decipher = createDecipheriv("aes-256-gcm", contentKey, bytes(iv, IV_BYTES)).setAuthTag(bytes(tag, TAG_BYTES))
    decipher.setAAD(Buffer.from(protectedHeader, "ascii"))
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64url")), decipher.final()]).toString("utf8")
  } catch (cause) {
    throw new Error(`${labelOf(owner)} could not be unwrapped with the key-encryption key ${kek.id}: the stored key was altered.`, { cause })
  }
}

function readHeader(wrapped: string): Record<string, unknown> | null {
  const end = wrapped.indexOf(".")
  if (end < 0) return null
  try {
    const header: unknown = JSON.parse(Buffer.from(wrapped.slice(0, end), "base64url").toString("utf8"))
    return typeof header === "object" && header !== null && !Array.isArray(header) ? (header as Record<string, unknown>) : null
  } catch {
    return null
  }
}

function bytes(value: unknown, length: number): Buffer {
  const decoded = Buffer.from(typeof value === "string" ? value : "", "base64url")
  if (decoded.length !== length) throw new Error(`expected ${length} bytes`)
  return decoded
}
