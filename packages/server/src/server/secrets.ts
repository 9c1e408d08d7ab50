/**
 * The server's own random secrets kept in the store (the device-cookie MAC key, the OIDC sealing key): made by
 * the first instance that needs one, a create-if-absent, so that every instance reads back the same bytes. Like
 * the signing keys (keystore.ts), they are stored wrapped under the newest key-encryption key (keywrap.ts) when
 * one is configured: a copy of the store alone does not open the sealed OIDC cookies or forge device cookies.
 *
 * @example
 * const key = await storedSecret(store, "settings", "device-cookie-key")   // 32 random bytes
 */
import { randomBytes } from "node:crypto"
import { storeOperation, type ServerStore } from "revocable/stores"
import { keyEncryptionKeysOf, unwrapKey, wrapKey, wrappedUnder, type KeyEncryptionKey } from "./keywrap.ts"

/** Every secret storedSecret keeps, by collection and id: those the start wraps and `keys rewrap` moves. */
export const SECRET_DOCUMENTS: ReadonlyArray<readonly [collection: string, id: string]> = [
  ["settings", "device-cookie-key"],
  ["oidc", "seal-key"],
]

/** In plaintext (no KEK configured, or an earlier version) or wrapped: the key's base64url text either way. */
type Stored = { key: string; createdAt: number } | { wrapped: string; createdAt: number }

export async function storedSecret(store: ServerStore, collection: string, id: string): Promise<Buffer> {
  const keks = keyEncryptionKeysOf(store)
  let text = await storeOperation(() => store.getDocument(collection, id))
  if (text === null) {
    const made = JSON.stringify(seal(randomBytes(32).toString("base64url"), Date.now(), collection, id, keks[0]))
    // Of instances starting together, the first write wins and every one reads it back.
    await storeOperation(() => store.putDocument(collection, id, made, null))
    text = (await storeOperation(() => store.getDocument(collection, id))) ?? made
  }
  return Buffer.from(open(JSON.parse(text) as Stored, collection, id, keks), "base64url")
}

/**
 * Wraps under the newest KEK each stored secret that `select` picks by the KEK it is wrapped under (null: in
 * plaintext), after checking that every one opens; resolves the ids of those rewritten. The start wraps the plaintext
 * ones (keystore.ts protectKeys), `keys rewrap` those not under the newest KEK. A compare-and-set: instances doing it
 * at once write each secret once, and its bytes never change.
 */
export async function rewrapSecrets(store: ServerStore, keks: readonly KeyEncryptionKey[], select: (wrappedUnder: string | null) => boolean): Promise<string[]> {
  const current = keks[0]
  const done: string[] = []
  for (const [collection, id] of SECRET_DOCUMENTS) {
    for (;;) {
      const text = await storeOperation(() => store.getDocument(collection, id))
      if (text === null) break
      const stored = JSON.parse(text) as Stored
      const key = open(stored, collection, id, keks)
      if (current === undefined || !select("wrapped" in stored ? wrappedUnder(stored.wrapped) : null)) break
      const next = JSON.stringify(seal(key, stored.createdAt, collection, id, current))
      if (await storeOperation(() => store.putDocument(collection, id, next, text))) {
        done.push(`${collection}/${id}`)
        break
      }
    }
  }
  return done
}

/** The wrapping binds the ciphertext to the secret's name: one secret's document cannot stand in for another's. */
const ownerOf = (collection: string, id: string) => ({ kid: `${collection}/${id}`, alg: "secret", label: `The secret ${collection}/${id}` })

function seal(key: string, createdAt: number, collection: string, id: string, kek: KeyEncryptionKey | undefined): Stored {
  return kek === undefined ? { key, createdAt } : { wrapped: wrapKey(key, ownerOf(collection, id), kek), createdAt }
}

function open(stored: Stored, collection: string, id: string, keks: readonly KeyEncryptionKey[]): string {
  return "wrapped" in stored ? unwrapKey(stored.wrapped, ownerOf(collection, id), keks) : stored.key
}
