// The server's audit log (ServerStore). Layout, under the store's hash tag:
// - `{p}:ae:<seq>` an event (hash), `{p}:aseq` the sequence of events
// - `{p}:al` every event, `{p}:al:u:<subject>` a subject's, `{p}:al:t:<type>` a type's: sorted sets whose
//   members are "<at>:<seq>", each zero-padded to 15 digits, all of score 0, so that their byte order is the
//   order of time then sequence and a page or a time range is one ZREVRANGEBYLEX.
// Retention is purgeAudit's: the server calls it with its cut-off, which trims every index with the events.
// There is no index by actor: redactAudit walks the whole log, a batch per call.
import { nullable, optional } from "./codec.ts"
import { script, type Run } from "./scripts.ts"
import { auditPage, decodeAuditCursor, redaction, type AuditLog } from "../audit.ts"
import type { AuditEvent } from "../server-store.ts"
import type { Clock } from "../../core/store.ts"

/** What the scripts share: the fields of an event, and an index member's event key. */
const COMMON = `
local AFIELDS = {'type', 'subject', 'actor', 'sessionId', 'ip', 'userAgent', 'reason', 'details', 'at', 'seq'}
local function eventKey(member) return base .. ':ae:' .. string.match(string.sub(member, 17), '^0*(%d+)$') end
`

/** ARGV: now, type, subject?, actor?, sessionId?, ip?, userAgent?, reason?, details?. Returns the event as AFIELDS. */
const APPEND = script(`
${COMMON}
local function pad(value) return string.rep('0', 15 - #value) .. value end
local at, seq = ms(clock(ARGV[2])), tostring(redis.call('INCR', base .. ':aseq'))
local key = base .. ':ae:' .. seq
redis.call('HSET', key, 'type', ARGV[3], 'at', at, 'seq', seq)
for i, field in ipairs({'subject', 'actor', 'sessionId', 'ip', 'userAgent', 'reason', 'details'}) do
  local value = opt(ARGV[3 + i])
  if value then redis.call('HSET', key, field, value) end
end
local member = pad(at) .. ':' .. pad(seq)
redis.call('ZADD', base .. ':al', 0, member)
redis.call('ZADD', base .. ':al:t:' .. ARGV[3], 0, member)
local subject = opt(ARGV[4])
if subject then redis.call('ZADD', base .. ':al:u:' .. subject, 0, member) end
return redis.call('HMGET', key, unpack(AFIELDS))
`)

/**
 * ARGV: index ("" for all, "u:" .. subject, "t:" .. type), type to match as well ("" for any), highest member
 * (exclusive: "(" .. member, or "+"), lowest (inclusive: "[" .. member, or "-"), count. Up to count events as
 * AFIELDS, newest first.
 */
const LIST = script(`
${COMMON}
local index = base .. ':al'
if ARGV[2] ~= '' then index = index .. ':' .. ARGV[2] end
local wanted, max, min, count = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local out = {}
while #out < count do
  local members = redis.call('ZREVRANGEBYLEX', index, max, min, 'LIMIT', 0, 100)
  for _, member in ipairs(members) do
    local row = redis.call('HMGET', eventKey(member), unpack(AFIELDS))
    if row[1] and (wanted == '' or row[1] == wanted) then
      table.insert(out, row)
      if #out == count then break end
    end
  end
  if #members < 100 then break end
  max = '(' .. members[#members]
end
return out
`)

/** ARGV: before (padded), batch. Deletes up to a batch of the oldest events dated before it: the count. */
const PURGE = script(`
${COMMON}
local members = redis.call('ZRANGEBYLEX', base .. ':al', '-', '(' .. ARGV[2], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(members) do
  local key = eventKey(member)
  local row = redis.call('HMGET', key, 'type', 'subject')
  if row[1] then redis.call('ZREM', base .. ':al:t:' .. row[1], member) end
  if row[2] then redis.call('ZREM', base .. ':al:u:' .. row[2], member) end
  redis.call('DEL', key)
  redis.call('ZREM', base .. ':al', member)
end
return #members
`)

/**
 * ARGV: lowest member (exclusive: "(" .. member, or "-"), batch, subject, actor. Walks up to a batch of the log,
 * oldest first: {members walked, the last one, the events about the subject or done by the actor or the subject
 * as {seq, subject, actor, ip, userAgent, details}}.
 */
const REDACT_READ = script(`
${COMMON}
local members = redis.call('ZRANGEBYLEX', base .. ':al', ARGV[2], '+', 'LIMIT', 0, ARGV[3])
local subject, actor = ARGV[4], ARGV[5]
local found = {}
for _, member in ipairs(members) do
  local row = redis.call('HMGET', eventKey(member), 'seq', 'subject', 'actor', 'ip', 'userAgent', 'details')
  if row[1] and (row[2] == subject or row[3] == actor or row[3] == subject) then table.insert(found, row) end
end
return {#members, members[#members] or '', found}
`)

/**
 * ARGV: seq, actor?, details? of each event to redact. Drops its ip and userAgent and writes the two, if it still
 * exists and differs (a purge or another redaction may have come between): the count of events changed.
 */
const REDACT_WRITE = script(`
local changed = 0
for i = 2, #ARGV, 3 do
  local key = base .. ':ae:' .. ARGV[i]
  local actor, details = opt(ARGV[i + 1]), opt(ARGV[i + 2])
  local row = redis.call('HMGET', key, 'type', 'ip', 'userAgent', 'actor', 'details')
  if row[1] and (row[2] or row[3] or row[4] ~= actor or row[5] ~= details) then
    redis.call('HDEL', key, 'ip', 'userAgent', 'actor', 'details')
    if actor then redis.call('HSET', key, 'actor', actor) end
    if details then redis.call('HSET', key, 'details', details) end
    changed = changed + 1
  end
end
return changed
`)

const PURGE_BATCH = 1000
/** Events walked per call of redactAudit's reading script. */
const REDACT_BATCH = 500

function pad(value: number): string {
  return String(value).padStart(15, "0")
}

function toEvent(row: unknown): AuditEvent & { seq: number } {
  const r = row as unknown[]
  return {
    type: String(r[0]),
    subject: nullable(r[1]),
    actor: nullable(r[2]),
    sessionId: nullable(r[3]),
    ip: nullable(r[4]),
    userAgent: nullable(r[5]),
    reason: nullable(r[6]),
    details: nullable(r[7]),
    at: Number(r[8]),
    id: String(r[9]),
    seq: Number(r[9]),
  }
}

export function redisAudit(run: Run, clock: Clock | undefined): AuditLog {
  return {
    async appendAudit(input) {
      const args = [input.subject, input.actor, input.sessionId, input.ip, input.userAgent, input.reason, input.details].map(optional)
      // Not sent twice: the event would be logged twice.
      const row = await run(APPEND, [clock === undefined ? "" : String(clock()), input.type, ...args], "wait")
      const { seq: _, ...event } = toEvent(row)
      return event
    },
    async listAudit(query) {
      const cursor = decodeAuditCursor(query.cursor)
      const index = query.subject != null ? `u:${query.subject}` : query.type != null ? `t:${query.type}` : ""
      const alsoType = query.subject != null && query.type != null ? query.type : ""
      // The lower of the two exclusive upper bounds: members before the cursor, dated before `until`.
      const bounds = [cursor && `(${pad(cursor.at)}:${pad(cursor.seq)}`, query.until != null && `(${pad(query.until)}`]
      const max = bounds.filter((bound) => typeof bound === "string").sort()[0] ?? "+"
      const min = query.since != null ? `[${pad(query.since)}` : "-"
      const rows = (await run(LIST, [index, alsoType, max, min, query.limit + 1])) as unknown[]
      return auditPage(rows.map(toEvent), query.limit)
    },
    async purgeAudit(before) {
      let removed = 0
      for (;;) {
        const count = Number(await run(PURGE, [pad(Math.max(0, before)), PURGE_BATCH]))
        removed += count
        if (count < PURGE_BATCH) return removed
      }
    },
    async redactAudit(who) {
      let changed = 0
      let after = "-"
      for (;;) {
        const [walked, last, found] = (await run(REDACT_READ, [after, REDACT_BATCH, who.subject, who.actor])) as [number, string, unknown[][]]
        const writes = found.flatMap((row) => {
          const [seq, subject = null, actor = null, ip = null, userAgent = null, details = null] = row.map(nullable)
          const fields = redaction({ subject, actor, ip, userAgent, details }, who)
          return fields === null ? [] : [String(seq), optional(fields.actor), optional(fields.details)]
        })
        if (writes.length > 0) changed += Number(await run(REDACT_WRITE, writes))
        if (Number(walked) < REDACT_BATCH) return changed
        after = `(${last}`
      }
    },
  }
}
