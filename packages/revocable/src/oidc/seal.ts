// The sign-in transaction (state, nonce, PKCE verifier, where to land) travels in a cookie between the redirect to
// the provider and the callback: sealed with AES-256-GCM under a key derived from the application's cookie secret,
// with the redirect URI as associated data, so that a cookie of one provider's sign-in never opens at another's.
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomBytes, type KeyObject } from "node:crypto"

export interface Transaction {
  state: string
  nonce: string
  verifier: string
  returnTo: string
  /** Spent once, by the first callback that carries it. */
  id: string
  /** Milliseconds since the epoch. */
  exp: number
}

export interface Sealer {
  seal(transaction: Transaction): string
  /** The transaction, or null when the text was not sealed by this sign-in or has expired at `now`. */
  open(text: string, now: number): Transaction | null
}

const IV_BYTES = 12
const TAG_BYTES = 16
const MAX_SEALED = 4096

export function transactionSealer(secret: string | Uint8Array, redirectUri: string): Sealer {
  const key: KeyObject = createSecretKey(Buffer.from(hkdfSync("sha256", secret, new Uint8Array(0), "revocable/oidc transaction", 32)))
  const aad = Buffer.from(redirectUri)
  return {
    seal(transaction) {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv("aes-256-gcm", key, iv)
      cipher.setAAD(aad)
      return Buffer.concat([iv, cipher.update(JSON.stringify(transaction), "utf8"), cipher.final(), cipher.getAuthTag()]).toString("base64url")
    },
    open(text, now) {
      if (text.length > MAX_SEALED || !/^[A-Za-z0-9_-]+$/.test(text)) return null
      const bytes = Buffer.from(text, "base64url")
      if (bytes.length <= IV_BYTES + TAG_BYTES) return null
      let transaction: Transaction
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES))
        decipher.setAAD(aad)
        decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
        transaction = JSON.parse(Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString("utf8"))
      } catch {
        return null
      }
      return transaction.exp > now ? transaction : null
    },
  }
}

/**
 * The ids of transactions whose callback reached the code exchange, until they expire: a replayed callback is
 * refused in this process. (On another instance the provider refuses it: an authorization code is single use.)
 */
export function spentTransactions(): { claim(transaction: Transaction, now: number): boolean; release(transaction: Transaction): void } {
  const spent = new Map<string, number>()
  return {
    claim(transaction, now) {
      // Entries go in about the order they expire: drop the expired head.
      for (const [id, exp] of spent) {
        if (exp > now) break
        spent.delete(id)
      }
      if (spent.has(transaction.id)) return false
      spent.set(transaction.id, transaction.exp)
      return true
    },
    release(transaction) {
      spent.delete(transaction.id)
    },
  }
}
