// The signing keys the store keeps for createAuth's managed keys: each write publishes a `keys` change.
import { toKey, type KeyRow } from "./codec.ts"
import type { Context } from "./connection.ts"
import type { Store, StoredKey } from "../../core/store.ts"

export type SigningKeys = Pick<Store, "listKeys" | "saveKey" | "retireKey" | "deleteKey">

export function signingKeys({ sql, safely }: Context): SigningKeys {
  return {
    async listKeys() {
      const { rows } = await safely((db) => db.query<KeyRow>(sql.listKeys))
      return rows.map(toKey)
    },
    async saveKey(key: StoredKey) {
      await safely((db) => db.query(sql.saveKey, [key.kid, key.alg, key.privateJwk, key.createdAt, key.retiredAt]))
    },
    async retireKey(kid, at) {
      await safely((db) => db.query(sql.retireKey, [kid, at]))
    },
    async deleteKey(kid) {
      await safely((db) => db.query(sql.deleteKey, [kid]))
    },
  }
}
