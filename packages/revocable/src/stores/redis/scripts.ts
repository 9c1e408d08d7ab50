// What the Lua scripts of the Redis store share, and how they run; the scripts, one per operation and each
// atomic, sit beside the calls that run them. Every script gets KEYS[1] = "{prefix}" and builds its other keys
// from it, so that they all share one hash tag and run on a Cluster. ARGV[1] is always the feed's length.
// Optional strings travel as "" for null and "=" .. value otherwise; numbers travel and are stored as the
// decimal strings the caller gave, so Lua's number formatting never touches them. Session times are the
// store's now: the scripts that need it read the Redis server's clock, or take the caller's clock (tests) as
// their first argument.
import { createHash } from "node:crypto"
import { isConnectionError, isNoScript, type Connection } from "./connection.ts"

export interface Script {
  readonly source: string
  readonly sha: string
}

const PREAMBLE = `
local base = KEYS[1]
local feedLength = ARGV[1]
local RFIELDS = {'kind', 'id', 'subject', 'reason', 'actor', 'createdAt', 'expiresAt', 'cutoff', 'replicaUntil'}
local SFIELDS = {'sid', 'subject', 'gen', 'createdAt', 'lastUsedAt', 'expiresAt', 'device', 'claims', 'revokedAt'}

local function opt(value)
  if value == '' then return false end
  return string.sub(value, 2)
end

-- The store's now, in ms: the given time, or the server's clock for "".
local function clock(value)
  if value ~= '' then return tonumber(value) end
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- A time computed here as the decimal string stored and replied (tostring can write exponents).
local function ms(value)
  return string.format('%.0f', value)
end

-- Keeps a key at least until \`at\` (ms since the epoch), never shortening its life.
local function extend(key, at)
  local current = redis.call('PEXPIRETIME', key)
  if current == -1 or (current >= 0 and current < tonumber(at)) then redis.call('PEXPIREAT', key, at) end
end

local function publish(...)
  local n = redis.call('INCR', base .. ':n')
  redis.call('XADD', base .. ':feed', 'MAXLEN', '~', feedLength, '*', 'n', n, ...)
end

-- A revocation as a reply: RFIELDS in order, false for null; nil when there is none.
local function readRevocation(member)
  local row = redis.call('HMGET', base .. ':r:' .. member, unpack(RFIELDS))
  if not row[1] then return nil end
  return row
end

-- The cut-off of the subject's revocation while it lasts, else 0: sessions with a lower gen are over.
local function liveCutoff(subject, now)
  local cut = redis.call('HMGET', base .. ':r:subject:' .. subject, 'expiresAt', 'cutoff')
  if cut[1] and tonumber(cut[1]) > now then return tonumber(cut[2]) end
  return 0
end

local function readSession(sid)
  local row = redis.call('HMGET', base .. ':s:' .. sid, unpack(SFIELDS))
  if not row[1] then return nil end
  return row
end

-- Records a revocation (merging with an existing one), applies its side effects and publishes it. replicaUntil
-- ("" for expiresAt) is when replicas let go of it: never after expiresAt, and the later one when revoked again.
local function record(kind, id, subject, reason, actor, createdAt, expiresAt, replicaUntil)
  local member = kind .. ':' .. id
  local key = base .. ':r:' .. member
  local old = redis.call('HMGET', key, 'subject', 'reason', 'actor', 'createdAt', 'expiresAt', 'seq', 'replicaUntil')
  if replicaUntil == '' or tonumber(replicaUntil) > tonumber(expiresAt) then replicaUntil = expiresAt end
  local cutoff = '0'
  local generation = base .. ':g:' .. id
  if kind == 'subject' then
    cutoff = tostring(redis.call('INCR', generation))
  elseif kind == 'session' then
    local session = base .. ':s:' .. id
    if redis.call('EXISTS', session) == 1 and redis.call('HEXISTS', session, 'revokedAt') == 0 then
      redis.call('HSET', session, 'revokedAt', createdAt)
    end
  end
  local seq = old[6]
  if seq then
    if tonumber(old[5]) > tonumber(expiresAt) then expiresAt = old[5] end
    local oldReplica = old[7] or old[5]
    if tonumber(oldReplica) > tonumber(replicaUntil) then replicaUntil = oldReplica end
    if kind ~= 'subject' then subject, reason, actor, createdAt = old[1], old[2], old[3], old[4] end
  else
    seq = redis.call('INCR', base .. ':seq')
  end
  local fields = {'kind', kind, 'id', id, 'createdAt', createdAt, 'expiresAt', expiresAt, 'cutoff', cutoff, 'replicaUntil', replicaUntil}
  if subject then table.insert(fields, 'subject'); table.insert(fields, subject) end
  if reason then table.insert(fields, 'reason'); table.insert(fields, reason) end
  if actor then table.insert(fields, 'actor'); table.insert(fields, actor) end
  redis.call('DEL', key)
  redis.call('HSET', key, 'seq', seq, unpack(fields))
  redis.call('PEXPIREAT', key, expiresAt)
  redis.call('ZADD', base .. ':rs', seq, member)
  redis.call('ZADD', base .. ':rx', expiresAt, member)
  redis.call('ZADD', base .. ':rp', replicaUntil, member)
  redis.call('ZADD', base .. ':rk:' .. kind, seq, member)
  if subject then
    redis.call('ZADD', base .. ':ru:' .. subject, seq, member)
    extend(base .. ':ru:' .. subject, expiresAt)
  end
  if kind == 'subject' then extend(generation, expiresAt) end
  publish('t', 'revoked', unpack(fields))
  return {kind, id, subject, reason, actor, createdAt, expiresAt, cutoff, replicaUntil}
end
`

export function script(body: string): Script {
  const source = PREAMBLE + body
  return { source, sha: createHash("sha1").update(source).digest("hex") }
}

/** Entries per call of the scripts that read or trim in pages (the snapshot, the purge). */
export const PAGE = 1000

/**
 * What a call does when Redis is unreachable. `fast`: fails at once. `wait`: waits for the reconnect within
 * its timeout; for writes that must not run twice. `retry`: also sends once more when the connection broke
 * under it; for reads and idempotent writes (a revocation again is the same revocation; a subject's cut-off
 * rises again, as two calls would raise it). After a lost answer the retry's answer is the one returned:
 * `unrevoke` and `deleteDocument` then say false for what the first attempt removed.
 */
export type Mode = "fast" | "wait" | "retry"

/** Runs a script with its arguments after the ones every script gets; resolves its reply. */
export type Run = (script: Script, args: readonly (string | number)[], mode?: Mode) => Promise<unknown>

/** Runs scripts on the store's connection: EVALSHA, or EVAL when Redis does not hold the script yet. */
export function runner(connection: () => Connection, base: string, feedLength: number, commandTimeoutMs: number): Run {
  return async (script, args, mode = "retry") => {
    const conn = connection()
    const argv = ["1", base, String(feedLength), ...args.map(String)]
    const wait = mode !== "fast"
    const evaluate = async () => {
      try {
        return await conn.send(["EVALSHA", script.sha, ...argv], commandTimeoutMs, wait)
      } catch (error) {
        if (!isNoScript(error)) throw error
        return conn.send(["EVAL", script.source, ...argv], commandTimeoutMs, wait)
      }
    }
    try {
      return await evaluate()
    } catch (error) {
      if (mode !== "retry" || !isConnectionError(error)) throw error
      return evaluate()
    }
  }
}
