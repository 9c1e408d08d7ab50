// The server's extension (ServerStore): its documents, and the counters of its rate-limit windows.
import { nullable } from "./codec.ts"
import { script, type Run } from "./scripts.ts"
import { decodeIdCursor, encodeCursor } from "../shared.ts"
import type { Page } from "../../core/store.ts"
import type { Document, ServerStore } from "../server-store.ts"

/** ARGV: collection, id. */
const GET_DOCUMENT = script(`
return redis.call('HGET', base .. ':d:' .. ARGV[2], ARGV[3])
`)

/** ARGV: collection, id, json, expected ("u" for none, "n" for absent, "=" .. text). Returns 1 when written. */
const PUT_DOCUMENT = script(`
local key, id, expected = base .. ':d:' .. ARGV[2], ARGV[3], ARGV[5]
if expected ~= 'u' then
  local current = redis.call('HGET', key, id)
  if expected == 'n' then
    if current then return 0 end
  elseif current ~= string.sub(expected, 2) then
    return 0
  end
end
redis.call('HSET', key, id, ARGV[4])
redis.call('ZADD', base .. ':do:' .. ARGV[2], 0, id)
return 1
`)

/** ARGV: collection, id. Returns 1 when there was one. */
const DELETE_DOCUMENT = script(`
redis.call('ZREM', base .. ':do:' .. ARGV[2], ARGV[3])
return redis.call('HDEL', base .. ':d:' .. ARGV[2], ARGV[3])
`)

/** ARGV: collection, after id ("" for the first), count. Up to count {id, json}, in byte order of ids. */
const LIST_DOCUMENTS = script(`
local min = '-'
if ARGV[3] ~= '' then min = '(' .. ARGV[3] end
local ids = redis.call('ZRANGEBYLEX', base .. ':do:' .. ARGV[2], min, '+', 'LIMIT', 0, ARGV[4])
local out = {}
for _, id in ipairs(ids) do
  local json = redis.call('HGET', base .. ':d:' .. ARGV[2], id)
  if json then table.insert(out, {id, json}) end
end
return out
`)

/** ARGV: name, now, resetAt of a window that would start now. Counts one attempt: {count, resetAt}. */
const HIT = script(`
local key = base .. ':h:' .. ARGV[2]
local window = redis.call('HMGET', key, 'count', 'resetAt')
local resetAt = window[2]
if not window[1] or tonumber(resetAt) <= tonumber(ARGV[3]) then
  resetAt = ARGV[4]
  redis.call('DEL', key)
  redis.call('HSET', key, 'resetAt', resetAt)
  redis.call('PEXPIREAT', key, resetAt)
  redis.call('ZADD', base .. ':hx', resetAt, ARGV[2])
end
return {redis.call('HINCRBY', key, 'count', 1), resetAt}
`)

export type Documents = Pick<ServerStore, "getDocument" | "putDocument" | "deleteDocument" | "listDocuments" | "hit">

export function documents(run: Run): Documents {
  return {
    async getDocument(collection, id) {
      return nullable(await run(GET_DOCUMENT, [collection, id]))
    },
    async putDocument(collection, id, json, expected) {
      const condition = expected === undefined ? "u" : expected === null ? "n" : `=${expected}`
      // Only a write without a condition is the same when sent twice.
      return Number(await run(PUT_DOCUMENT, [collection, id, json, condition], expected === undefined ? "retry" : "wait")) === 1
    },
    async deleteDocument(collection, id) {
      return Number(await run(DELETE_DOCUMENT, [collection, id])) === 1
    },
    async listDocuments(collection, query): Promise<Page<Document>> {
      const after = decodeIdCursor(query.cursor)
      const rows = (await run(LIST_DOCUMENTS, [collection, after ?? "", query.limit + 1])) as unknown[][]
      const items = rows.slice(0, query.limit).map((row) => ({ id: String(row[0]), json: String(row[1]) }))
      const last = items.at(-1)
      return { items, next: rows.length > query.limit && last ? encodeCursor(last.id) : null }
    },
    async hit(key, windowMs, now) {
      const [count, resetAt] = (await run(HIT, [key, now, now + windowMs], "wait")) as unknown[]
      return { count: Number(count), resetAt: Number(resetAt) }
    },
  }
}
