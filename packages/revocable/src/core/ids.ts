// Identifiers: 128 random bits, URL-safe; refresh ids are kept only as hashes.
import { createHash, randomFillSync } from "node:crypto"

const ID_BYTES = 16
const pool = Buffer.alloc(ID_BYTES * 256)
let offset = pool.length

/** A new `jti` or `sid`: 128 random bits in 22 base64url characters. */
export function randomId(): string {
  if (offset === pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const id = pool.toString("base64url", offset, offset + ID_BYTES)
  offset += ID_BYTES
  return id
}

/** What the store keeps of a refresh token: the SHA-256 of its jti. */
export function refreshHash(jti: string): string {
  return createHash("sha256").update(jti).digest("base64url")
}
