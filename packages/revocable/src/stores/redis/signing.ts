// The signing keys the store keeps for createAuth's managed keys: each write publishes a `keys` change.
import { optional, toKey } from "./codec.ts"
import { script, type Run } from "./scripts.ts"
import type { Store } from "../../core/store.ts"

/** Returns every key: {kid, alg, privateJwk, createdAt, retiredAt|false}, oldest first. */
const LIST_KEYS = script(`
local out = {}
for _, kid in ipairs(redis.call('ZRANGE', base .. ':keys', 0, -1)) do
  local row = redis.call('HMGET', base .. ':k:' .. kid, 'kid', 'alg', 'privateJwk', 'createdAt', 'retiredAt')
  if row[1] then table.insert(out, row) end
end
return out
`)

/** ARGV: kid, alg, privateJwk, createdAt, retiredAt?. */
const SAVE_KEY = script(`
local key = base .. ':k:' .. ARGV[2]
redis.call('DEL', key)
redis.call('HSET', key, 'kid', ARGV[2], 'alg', ARGV[3], 'privateJwk', ARGV[4], 'createdAt', ARGV[5])
local retiredAt = opt(ARGV[6])
if retiredAt then redis.call('HSET', key, 'retiredAt', retiredAt) end
redis.call('ZADD', base .. ':keys', ARGV[5], ARGV[2])
publish('t', 'keys')
return 1
`)

/** ARGV: kid, at. */
const RETIRE_KEY = script(`
local key = base .. ':k:' .. ARGV[2]
if redis.call('EXISTS', key) == 1 and redis.call('HEXISTS', key, 'retiredAt') == 0 then
  redis.call('HSET', key, 'retiredAt', ARGV[3])
end
publish('t', 'keys')
return 1
`)

/** ARGV: kid. */
const DELETE_KEY = script(`
redis.call('DEL', base .. ':k:' .. ARGV[2])
redis.call('ZREM', base .. ':keys', ARGV[2])
publish('t', 'keys')
return 1
`)

export type SigningKeys = Pick<Store, "listKeys" | "saveKey" | "retireKey" | "deleteKey">

export function signingKeys(run: Run): SigningKeys {
  return {
    async listKeys() {
      const rows = (await run(LIST_KEYS, [])) as unknown[][]
      return rows.map(toKey)
    },
    async saveKey(key) {
      await run(SAVE_KEY, [key.kid, key.alg, key.privateJwk, key.createdAt, optional(key.retiredAt === null ? null : String(key.retiredAt))])
    },
    async retireKey(kid, at) {
      await run(RETIRE_KEY, [kid, at])
    },
    async deleteKey(kid) {
      await run(DELETE_KEY, [kid])
    },
  }
}
