// Revocations: recorded, unrevoked, checked, read in pages and listed, each one script.
import { optional, toRevocation } from "./codec.ts"
import { PAGE, script, type Run } from "./scripts.ts"
import { decodeCursor, encodeCursor } from "../shared.ts"
import type { Page, Revocation, Store } from "../../core/store.ts"

/** ARGV: kind, id, subject?, reason?, actor?, createdAt, expiresAt, replicaUntil. */
const REVOKE = script(`
return record(ARGV[2], ARGV[3], opt(ARGV[4]), opt(ARGV[5]), opt(ARGV[6]), ARGV[7], ARGV[8], ARGV[9])
`)

/** ARGV: kind, id. Returns 1 when there was a revocation. Unrevoking a session also un-marks the session. */
const UNREVOKE = script(`
local kind, id = ARGV[2], ARGV[3]
local member = kind .. ':' .. id
local key = base .. ':r:' .. member
local subject = redis.call('HGET', key, 'subject')
if kind == 'session' then redis.call('HDEL', base .. ':s:' .. id, 'revokedAt') end
if redis.call('DEL', key) == 0 then return 0 end
redis.call('ZREM', base .. ':rs', member)
redis.call('ZREM', base .. ':rx', member)
redis.call('ZREM', base .. ':rp', member)
redis.call('ZREM', base .. ':rk:' .. kind, member)
if subject then redis.call('ZREM', base .. ':ru:' .. subject, member) end
publish('t', 'unrevoked', 'kind', kind, 'id', id)
return 1
`)

/** ARGV: now, jti, sid, subject, gen, kid. Returns 1 when revoked. */
const IS_REVOKED = script(`
local now = tonumber(ARGV[2])
local function live(member)
  local expiresAt = redis.call('HGET', base .. ':r:' .. member, 'expiresAt')
  return expiresAt and tonumber(expiresAt) > now
end
if live('token:' .. ARGV[3]) or live('session:' .. ARGV[4]) or live('key:' .. ARGV[7]) then return 1 end
local cut = redis.call('HMGET', base .. ':r:subject:' .. ARGV[5], 'expiresAt', 'cutoff')
if cut[1] and tonumber(cut[1]) > now and tonumber(ARGV[6]) < tonumber(cut[2]) then return 1 end
return 0
`)

/**
 * ARGV: after (a replicaUntil: the snapshot's now, then the last page's), count. One page of the revocations
 * replicas hold, by replicaUntil (`{p}:rp`), so that a snapshot reads only those: {last replicaUntil, full, rows}.
 * A full page takes every entry of its last replicaUntil, so the next can start after it. An entry that exists
 * throughout is never skipped: its replicaUntil only grows, and one that grows past a page is read again.
 */
const SNAPSHOT = script(`
local index, after, count = base .. ':rp', ARGV[2], tonumber(ARGV[3])
local page = redis.call('ZRANGEBYSCORE', index, '(' .. after, '+inf', 'WITHSCORES', 'LIMIT', 0, count)
local full = #page / 2 == count
local last = page[#page] or after
local members = {}
for i = 1, #page, 2 do
  if not full or page[i + 1] ~= last then table.insert(members, page[i]) end
end
if full then
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', index, last, last)) do table.insert(members, member) end
end
local rows = {}
for _, member in ipairs(members) do
  local row = readRevocation(member)
  if row then table.insert(rows, row) end
end
return {last, full and 1 or 0, rows}
`)

/** ARGV: now, before (a seq, or "" for the newest), limit, kind?, subject?. Up to limit + 1 {seq, row}, newest first. */
const LIST_REVOCATIONS = script(`
local now, limit, kind, subject = tonumber(ARGV[2]), tonumber(ARGV[4]), opt(ARGV[5]), opt(ARGV[6])
local index = base .. ':rs'
if subject then index = base .. ':ru:' .. subject elseif kind then index = base .. ':rk:' .. kind end
local max = '+inf'
if ARGV[3] ~= '' then max = '(' .. ARGV[3] end
local out = {}
while #out <= limit do
  local members = redis.call('ZREVRANGEBYSCORE', index, max, '-inf', 'WITHSCORES', 'LIMIT', 0, 200)
  for i = 1, #members, 2 do
    max = '(' .. members[i + 1]
    local row = readRevocation(members[i])
    if row and tonumber(row[7]) > now and (not kind or row[1] == kind) and (not subject or row[3] == subject) then
      table.insert(out, {members[i + 1], row})
      if #out > limit then break end
    end
  end
  if #members < 400 then break end
end
return out
`)

export type Revocations = Pick<Store, "revoke" | "unrevoke" | "isRevoked" | "snapshot" | "listRevocations">

export function revocations(run: Run): Revocations {
  return {
    async revoke(input) {
      const row = await run(REVOKE, [
        input.kind,
        input.id,
        optional(input.subject),
        optional(input.reason),
        optional(input.actor),
        input.createdAt,
        input.expiresAt,
        input.replicaUntil ?? "",
      ])
      return toRevocation(row)
    },

    async unrevoke(kind, id) {
      return Number(await run(UNREVOKE, [kind, id])) === 1
    },

    async isRevoked(query) {
      // Verify asks the store only when its replica is stale, on a request's path: while Redis is unreachable
      // it fails at once (store_unavailable, or fail-open) rather than hold every request for a reconnect.
      const reply = await run(IS_REVOKED, [query.now, query.jti, query.sid, query.subject, query.gen, query.kid], "fast")
      return Number(reply) === 1
    },

    async snapshot(now) {
      const live: Revocation[] = []
      let after = String(now)
      for (;;) {
        const [last, full, rows] = (await run(SNAPSHOT, [after, PAGE])) as [unknown, unknown, unknown[]]
        for (const row of rows) live.push(toRevocation(row))
        if (Number(full) !== 1) return live
        after = String(last)
      }
    },

    async listRevocations(query): Promise<Page<Revocation>> {
      const before = decodeCursor(query.cursor)
      const rows = (await run(LIST_REVOCATIONS, [
        query.now,
        before === null ? "" : before,
        query.limit,
        optional(query.kind ?? null),
        optional(query.subject ?? null),
      ])) as Array<[unknown, unknown]>
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return {
        items: page.map(([, row]) => toRevocation(row)),
        next: rows.length > query.limit && last ? encodeCursor(Number(last[0])) : null,
      }
    },
  }
}
