// The signing keys the store keeps for createAuth's managed keys: each write publishes a `keys` change. The
// store's clock, which dates their activation, is here too.
import { optional, toKey } from "./codec.ts"
import { script, type Run } from "./scripts.ts"
import type { Clock, Store } from "../../core/store.ts"

/** ARGV: the caller's clock reading, or "" for the Redis server's. */
const NOW = script(`
return ms(clock(ARGV[2]))
`)

/**
 * Returns every key: {kid, alg, privateJwk, createdAt, retiredAt|false, activatesAt|false}, oldest first; a key
 * saved before activation times were kept has none.
 */
const LIST_KEYS = script(`
local out = {}
for _, kid in ipairs(redis.call('ZRANGE', base .. ':keys', 0, -1)) do
  local row = redis.call('HMGET', base .. ':k:' .. kid, 'kid', 'alg', 'privateJwk', 'createdAt', 'retiredAt', 'activatesAt')
  if row[1] then table.insert(out, row) end
end
return out
`)

/** ARGV: kid, alg, privateJwk, createdAt, retiredAt?, activatesAt?. */
const SAVE_KEY = script(`
local key = base .. ':k:' .. ARGV[2]
redis.call('DEL', key)
redis.call('HSET', key, 'kid', ARGV[2], 'alg', ARGV[3], 'privateJwk', ARGV[4], 'createdAt', ARGV[5])
local retiredAt = opt(ARGV[6])
if retiredAt then redis.call('HSET', key, 'retiredAt', retiredAt) end
local activatesAt = opt(ARGV[7])
if activatesAt then redis.call('HSET', key, 'activatesAt', activatesAt) end
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

export type SigningKeys = Pick<Store, "now" | "listKeys" | "saveKey" | "retireKey" | "deleteKey">

export function signingKeys(run: Run, clock: Clock | undefined): SigningKeys {
  return {
    async now() {
      return Number(await run(NOW, [clock === undefined ? "" : String(clock())]))
    },
    async listKeys() {
      const rows = (await run(LIST_KEYS, [])) as unknown[][]
      return rows.map(toKey)
    },
    async saveKey(key) {
      const retiredAt = optional(key.retiredAt === null ? null : String(key.retiredAt))
      const activatesAt = optional(key.activatesAt === undefined ? null : String(key.activatesAt))
      await run(SAVE_KEY, [key.kid, key.alg, key.privateJwk, key.createdAt, retiredAt, activatesAt])
    },
    async retireKey(kid, at) {
      await run(RETIRE_KEY, [kid, at])
    },
    async deleteKey(kid) {
      await run(DELETE_KEY, [kid])
    },
  }
}
