// Sessions: created under the session limit, read, listed, and rotated with reuse detection, each one script.
import { optional, toRevocation, toSession } from "./codec.ts"
import { script, type Run } from "./scripts.ts"
import type { Clock, Store } from "../../core/store.ts"

/**
 * ARGV: now, sid, subject, ttlMs, device?, claims, refreshHash, idleTimeoutMs, limit ("" for none), onExceed,
 * evict kind, evict reason?, evict actor?, evict createdAt, leewayMs, evict replicaUntil ("" for its expiry).
 * Returns {0} when the limit refuses, else {1, session, evicted revocations}.
 */
const CREATE_SESSION = script(`
local now = clock(ARGV[2])
local sid, subject = ARGV[3], ARGV[4]
local createdAt, expiresAt = ms(now), ms(now + tonumber(ARGV[5]))
local sessions = base .. ':u:' .. subject
local evicted = {}
if ARGV[10] ~= '' then
  local idleSince, cutoff = now - tonumber(ARGV[9]), liveCutoff(subject, now)
  local live = {}
  for _, other in ipairs(redis.call('ZRANGE', sessions, 0, -1)) do
    local row = redis.call('HMGET', base .. ':s:' .. other, 'expiresAt', 'lastUsedAt', 'revokedAt', 'gen')
    if not row[1] then
      redis.call('ZREM', sessions, other)
    elseif not row[3] and tonumber(row[1]) > now and tonumber(row[2]) > idleSince and tonumber(row[4]) >= cutoff then
      table.insert(live, {other, row[1]})
    end
  end
  local excess = #live + 1 - tonumber(ARGV[10])
  if excess > 0 and ARGV[11] == 'reject' then return {0} end
  for i = 1, excess do
    local until_ = ms(tonumber(live[i][2]) + tonumber(ARGV[16]))
    table.insert(evicted, record(ARGV[12], live[i][1], subject, opt(ARGV[13]), opt(ARGV[14]), ARGV[15], until_, ARGV[17]))
  end
end
local key = base .. ':s:' .. sid
local generation = base .. ':g:' .. subject
local gen = redis.call('GET', generation) or '0'
redis.call('DEL', key)
redis.call('HSET', key, 'sid', sid, 'subject', subject, 'gen', gen, 'createdAt', createdAt, 'lastUsedAt', createdAt,
  'expiresAt', expiresAt, 'claims', ARGV[7], 'cur', ARGV[8], 'rotatedAt', createdAt)
local device = opt(ARGV[6])
if device then redis.call('HSET', key, 'device', device) end
-- Kept while the session's tokens may still be presented (expiry plus leeway), so that a late refresh finds
-- the session expired rather than missing, and its generation with it; purge() deletes it once it ended.
local kept = ms(now + tonumber(ARGV[5]) + tonumber(ARGV[16]))
redis.call('PEXPIREAT', key, kept)
redis.call('ZADD', sessions, createdAt, sid)
extend(sessions, kept)
redis.call('ZADD', base .. ':sx', expiresAt, sid)
if gen ~= '0' then extend(generation, kept) end
return {1, readSession(sid), evicted}
`)

/** ARGV: sid. */
const GET_SESSION = script(`
return readSession(ARGV[2])
`)

/** ARGV: now, subject, idleTimeoutMs. Live sessions (not revoked, ended, idle or cut off by the subject), newest first. */
const LIST_SESSIONS = script(`
local now, subject = clock(ARGV[2]), ARGV[3]
local idleSince, cutoff = now - tonumber(ARGV[4]), liveCutoff(subject, now)
local out = {}
for _, sid in ipairs(redis.call('ZREVRANGE', base .. ':u:' .. subject, 0, -1)) do
  local row = readSession(sid)
  if row and not row[9] and tonumber(row[6]) > now and tonumber(row[5]) > idleSince and tonumber(row[3]) >= cutoff then
    table.insert(out, row)
  end
end
return out
`)

/**
 * ARGV: now, sid, presentedHash, nextHash, graceMs, idleTimeoutMs, then the reuse revocation: kind, id,
 * subject?, reason?, actor?, createdAt, expiresAt, replicaUntil. A session revoked, or cut off by its subject's
 * revocation, is refused from the store's records. Returns {status} or {status, session} or {"reused", revocation}.
 */
const ROTATE = script(`
local now = clock(ARGV[2])
local sid, presented, nextHash, graceMs = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local key = base .. ':s:' .. sid
local row = redis.call('HMGET', key, 'sid', 'revokedAt', 'expiresAt', 'lastUsedAt', 'cur', 'prev', 'rotatedAt', 'subject', 'gen')
if not row[1] then return {'missing'} end
if row[2] or tonumber(row[9]) < liveCutoff(row[8], now) then return {'revoked'} end
if tonumber(row[3]) <= now or tonumber(row[4]) <= now - tonumber(ARGV[7]) then return {'expired'} end
if row[5] == presented then
  redis.call('HSET', key, 'prev', row[5], 'cur', nextHash, 'rotatedAt', ms(now), 'lastUsedAt', ms(now))
  return {'rotated', readSession(sid)}
end
-- The predecessor only within the grace after its rotation: none without a grace, none before the rotation.
local since = now - tonumber(row[7])
if graceMs > 0 and row[6] == presented and since >= 0 and since < graceMs then
  redis.call('HSET', key, 'cur', nextHash, 'lastUsedAt', ms(now))
  return {'grace', readSession(sid)}
end
return {'reused', record(ARGV[8], ARGV[9], opt(ARGV[10]), opt(ARGV[11]), opt(ARGV[12]), ARGV[13], ARGV[14], ARGV[15])}
`)

export type Sessions = Pick<Store, "createSession" | "getSession" | "listSessions" | "rotate">

export function sessions(run: Run, clock: Clock | undefined): Sessions {
  /** The store's now for the scripts that need it: "" has them read the Redis server's clock. */
  function timeArg(): string {
    return clock === undefined ? "" : String(clock())
  }

  return {
    async createSession(input) {
      const { session, evictTemplate } = input
      const reply = (await run(
        CREATE_SESSION,
        [
          timeArg(),
          session.sid,
          session.subject,
          session.ttlMs,
          optional(session.device),
          JSON.stringify(session.claims),
          session.refreshHash,
          input.idleTimeoutMs,
          input.limit ?? "",
          input.onExceed,
          evictTemplate.kind,
          optional(evictTemplate.reason),
          optional(evictTemplate.actor),
          evictTemplate.createdAt,
          input.leewayMs,
          evictTemplate.replicaUntil ?? "",
        ],
        "wait",
      )) as unknown[]
      if (Number(reply[0]) !== 1) return { ok: false, reason: "limit" }
      return { ok: true, session: toSession(reply[1]), evicted: (reply[2] as unknown[]).map(toRevocation) }
    },

    async getSession(sid) {
      const row = await run(GET_SESSION, [sid])
      return row == null ? null : toSession(row)
    },

    async listSessions(subject, idleTimeoutMs) {
      const rows = (await run(LIST_SESSIONS, [timeArg(), subject, idleTimeoutMs])) as unknown[]
      return rows.map(toSession)
    },

    async rotate(input) {
      const reuse = input.reuseRevocation
      const reply = (await run(
        ROTATE,
        [
          timeArg(),
          input.sid,
          input.presentedHash,
          input.nextHash,
          input.graceMs,
          input.idleTimeoutMs,
          reuse.kind,
          reuse.id,
          optional(reuse.subject),
          optional(reuse.reason),
          optional(reuse.actor),
          reuse.createdAt,
          reuse.expiresAt,
          reuse.replicaUntil ?? "",
        ],
        "wait",
      )) as unknown[]
      const status = String(reply[0])
      switch (status) {
        case "rotated":
        case "grace":
          return { status, session: toSession(reply[1]) }
        case "reused":
          return { status, revocation: toRevocation(reply[1]) }
        case "revoked":
        case "expired":
        case "missing":
          return { status }
        default:
          throw new Error(`Unexpected rotation status from Redis: ${status}`)
      }
    },
  }
}
