// Small sealed records the server hands to the browser and takes back: the sign-in transaction (a cookie) and
// the API handoff code. AES-256-GCM under a key kept in the store, so that every instance on a shared store opens
// what another sealed; the purpose is bound as associated data, so that one kind never opens as the other. Each
// record has an id that the store's `hit` counter spends once: a replay is told apart from a first use on every
// instance.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"
import { randomId } from "revocable"
import { storeOperation, type ServerStore } from "revocable/stores"
import { storedSecret } from "../secrets.ts"

export interface Sealer {
  /** Seals `record` for `purpose`, valid for `ttlMs`. */
  seal(purpose: string, record: object, ttlMs: number): Promise<string>
  /** The record, or null when the text is not one sealed for `purpose` or has expired. */
  open<T>(purpose: string, text: string): Promise<(T & { id: string }) | null>
  /** Counts a use of the record's id: true the first time, false for every later one. */
  spend(purpose: string, record: { id: string; exp: number }): Promise<boolean>
}

const KEY_DOCUMENT = ["oidc", "seal-key"] as const
const IV_BYTES = 12
const TAG_BYTES = 16

export function sealer(store: ServerStore): Sealer {
  let key: Promise<Buffer> | undefined
  const currentKey = (): Promise<Buffer> => {
    key ??= loadKey(store).catch((error: unknown) => {
      key = undefined
      throw error
    })
    return key
  }

  return {
    async seal(purpose, record, ttlMs) {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv("aes-256-gcm", await currentKey(), iv)
      cipher.setAAD(Buffer.from(purpose))
      const plain = JSON.stringify({ ...record, id: randomId(), exp: Date.now() + ttlMs })
      return Buffer.concat([iv, cipher.update(plain, "utf8"), cipher.final(), cipher.getAuthTag()]).toString("base64url")
    },

    async open<T>(purpose: string, text: string) {
      if (typeof text !== "string" || text.length > 8192 || !/^[A-Za-z0-9_-]+$/.test(text)) return null
      const bytes = Buffer.from(text, "base64url")
      if (bytes.length <= IV_BYTES + TAG_BYTES) return null
      const key = await currentKey()
      let record: T & { id: string; exp: number }
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES))
        decipher.setAAD(Buffer.from(purpose))
        decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
        record = JSON.parse(Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString("utf8"))
      } catch {
        return null
      }
      return record.exp > Date.now() ? record : null
    },

    async spend(purpose, record) {
      const now = Date.now()
      // The window outlives the record, so that the counter cannot reset while the record still opens.
      const window = await storeOperation(() => store.hit(`oidc-${purpose}:${record.id}`, Math.max(1000, record.exp - now) + 60_000, now))
      return window.count === 1
    },
  }
}

/** The store's key, made by the first instance that needs one. */
function loadKey(store: ServerStore): Promise<Buffer> {
  return storedSecret(store, ...KEY_DOCUMENT)
}
