// The signing keys the store keeps for createAuth's managed keys: each write publishes a `keys` change. The
// store's clock, which dates their activation, is here too.
import { toKey, type KeyRow } from "./codec.ts"
import type { Context } from "./connection.ts"
import type { Store, StoredKey } from "../../core/store.ts"

export type SigningKeys = Pick<Store, "now" | "listKeys" | "saveKey" | "retireKey" | "deleteKey">

export function signingKeys({ sql, safely, clock }: Context): SigningKeys {
  return {
    async now() {
      // Null: the statement reads the server's clock (see storeNow).
      const { rows } = await safely((db) => db.query<{ now: string }>(sql.now, [clock?.() ?? null]))
      return Number((rows[0] as { now: string }).now)
    },
    async listKeys() {
      const { rows } = await safely((db) => db.query<KeyRow>(sql.listKeys))
      return rows.map(toKey)
    },
    async saveKey(key: StoredKey) {
      await safely((db) => db.query(sql.saveKey, [key.kid, key.alg, key.privateJwk, key.createdAt, key.retiredAt, key.activatesAt ?? null]))
    },
    async retireKey(kid, at) {
      await safely((db) => db.query(sql.retireKey, [kid, at]))
    },
    async deleteKey(kid) {
      await safely((db) => db.query(sql.deleteKey, [kid]))
    },
  }
}
