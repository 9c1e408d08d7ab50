/**
 * The server's own random secrets kept in the store (the device-cookie MAC key, the OIDC sealing key): made by
 * the first instance that needs one, a create-if-absent, so that every instance reads back the same bytes.
 *
 * @example
 * const key = await storedSecret(store, "settings", "device-cookie-key")   // 32 random bytes
 */
import { randomBytes } from "node:crypto"
import { storeOperation, type ServerStore } from "revocable/stores"

export async function storedSecret(store: ServerStore, collection: string, id: string): Promise<Buffer> {
  let text = await storeOperation(() => store.getDocument(collection, id))
  if (text === null) {
    const made = JSON.stringify({ key: randomBytes(32).toString("base64url"), createdAt: Date.now() })
    // Of instances starting together, the first write wins and every one reads it back.
    await storeOperation(() => store.putDocument(collection, id, made, null))
    text = (await storeOperation(() => store.getDocument(collection, id))) ?? made
  }
  return Buffer.from((JSON.parse(text) as { key: string }).key, "base64url")
}
