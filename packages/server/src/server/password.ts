// Password hashing: argon2id from node:crypto, encoded in the PHC string format with its parameters, so that
// they can be raised later (`needsRehash`) without invalidating stored hashes.
import * as crypto from "node:crypto"
import { randomBytes, timingSafeEqual } from "node:crypto"

export interface Argon2Params {
  /** Memory in KiB. */
  m: number
  /** Passes. */
  t: number
  /** Lanes. */
  p: number
}

/** OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 degree of parallelism. */
export const DEFAULT_PARAMS: Argon2Params = { m: 19_456, t: 2, p: 1 }

const SALT_BYTES = 16
const TAG_BYTES = 32
const PHC = /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,2})\$([A-Za-z0-9+/]{11,64})\$([A-Za-z0-9+/]{22,128})$/
/** Bounds on what a stored hash may ask of us, so that a tampered record cannot exhaust memory or time. */
const MAX = { m: 1_048_576, t: 20, p: 16 }

/**
 * Throws unless this Node.js hashes passwords: argon2 came in 24.7. A namespace lookup, not a named import, so
 * that on an older one the CLI still loads and can say why the server will not start.
 */
export function checkPasswordHashing(): void {
  if (typeof crypto.argon2 !== "function") throw new Error(`Password hashing needs Node.js 24.7 or later (crypto.argon2); this is ${process.version}.`)
}

function derive(password: string, salt: Buffer, params: Argon2Params, tagLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    crypto.argon2(
      "argon2id",
      { message: password, nonce: salt, memory: params.m, passes: params.t, parallelism: params.p, tagLength },
      (error, key) => (error ? reject(error) : resolve(key)),
    )
  })
}

export async function hashPassword(password: string, params: Argon2Params = DEFAULT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const tag = await derive(password, salt, params, TAG_BYTES)
  return `$argon2id$v=19$m=${params.m},t=${params.t},p=${params.p}$${b64(salt)}$${b64(tag)}`
}

function parse(encoded: string): { params: Argon2Params; salt: Buffer; tag: Buffer } | null {
  const match = PHC.exec(encoded)
  if (!match) return null
  const params = { m: Number(match[1]), t: Number(match[2]), p: Number(match[3]) }
  if (params.m > MAX.m || params.t > MAX.t || params.p > MAX.p || params.t < 1 || params.p < 1 || params.m < 8 * params.p) return null
  return { params, salt: Buffer.from(match[4] as string, "base64"), tag: Buffer.from(match[5] as string, "base64") }
}

/** Whether `password` matches the PHC string; false (never a throw) for a malformed one. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parse(encoded)
  if (parsed === null) return false
  const tag = await derive(password, parsed.salt, parsed.params, parsed.tag.length)
  return timingSafeEqual(tag, parsed.tag)
}

/** Whether the hash was made with weaker parameters than today's: rehash it at the next successful login. */
export function needsRehash(encoded: string, params: Argon2Params = DEFAULT_PARAMS): boolean {
  const parsed = parse(encoded)
  return parsed === null || parsed.params.m < params.m || parsed.params.t < params.t || parsed.params.p < params.p
}

function b64(bytes: Buffer): string {
  return bytes.toString("base64").replace(/=+$/, "")
}
