// The Lua scripts of the Redis store: one per operation, each atomic. Every script gets KEYS[1] = "{prefix}"
// and builds its other keys from it, so that they all share one hash tag and run on a Cluster. ARGV[1] is
// always the feed's length. Optional strings travel as "" for null and "=" .. value otherwise; numbers travel
// and are stored as the decimal strings the caller gave, so Lua's number formatting never touches them.
// Session times are the store's now: the scripts that need it read the Redis server's clock, or take the
// caller's clock (tests) as their first argument.
import { createHash } from "node:crypto"

export interface Script {
  readonly source: string
  readonly sha: string
}

const PREAMBLE = `
local base = KEYS[1]
local feedLength = ARGV[1]
local RFIELDS = {'kind', 'id', 'subject', 'reason', 'actor', 'createdAt', 'expiresAt', 'cutoff'}
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

-- Records a revocation (merging with an existing one), applies its side effects and publishes it.
local function record(kind, id, subject, reason, actor, createdAt, expiresAt)
  local member = kind .. ':' .. id
  local key = base .. ':r:' .. member
  local old = redis.call('HMGET', key, 'subject', 'reason', 'actor', 'createdAt', 'expiresAt', 'seq')
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
    if kind ~= 'subject' then subject, reason, actor, createdAt = old[1], old[2], old[3], old[4] end
  else
    seq = redis.call('INCR', base .. ':seq')
  end
  local fields = {'kind', kind, 'id', id, 'createdAt', createdAt, 'expiresAt', expiresAt, 'cutoff', cutoff}
  if subject then table.insert(fields, 'subject'); table.insert(fields, subject) end
  if reason then table.insert(fields, 'reason'); table.insert(fields, reason) end
  if actor then table.insert(fields, 'actor'); table.insert(fields, actor) end
  redis.call('DEL', key)
  redis.call('HSET', key, 'seq', seq, unpack(fields))
  redis.call('PEXPIREAT', key, expiresAt)
  redis.call('ZADD', base .. ':rs', seq, member)
  redis.call('ZADD', base .. ':rx', expiresAt, member)
  redis.call('ZADD', base .. ':rk:' .. kind, seq, member)
  if subject then
    redis.call('ZADD', base .. ':ru:' .. subject, seq, member)
    extend(base .. ':ru:' .. subject, expiresAt)
  end
  if kind == 'subject' then extend(generation, expiresAt) end
  publish('t', 'revoked', unpack(fields))
  return {kind, id, subject, reason, actor, createdAt, expiresAt, cutoff}
end
`

function script(body: string): Script {
  const source = PREAMBLE + body
  return { source, sha: createHash("sha1").update(source).digest("hex") }
}

/** ARGV: kind, id, subject?, reason?, actor?, createdAt, expiresAt. */
export const REVOKE = script(`
return record(ARGV[2], ARGV[3], opt(ARGV[4]), opt(ARGV[5]), opt(ARGV[6]), ARGV[7], ARGV[8])
`)

/** ARGV: kind, id. Returns 1 when there was a revocation. Unrevoking a session also un-marks the session. */
export const UNREVOKE = script(`
local kind, id = ARGV[2], ARGV[3]
local member = kind .. ':' .. id
local key = base .. ':r:' .. member
local subject = redis.call('HGET', key, 'subject')
if kind == 'session' then redis.call('HDEL', base .. ':s:' .. id, 'revokedAt') end
if redis.call('DEL', key) == 0 then return 0 end
redis.call('ZREM', base .. ':rs', member)
redis.call('ZREM', base .. ':rx', member)
redis.call('ZREM', base .. ':rk:' .. kind, member)
if subject then redis.call('ZREM', base .. ':ru:' .. subject, member) end
publish('t', 'unrevoked', 'kind', kind, 'id', id)
return 1
`)

/** ARGV: now, jti, sid, subject, gen, kid. Returns 1 when revoked. */
export const IS_REVOKED = script(`
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
 * ARGV: now, after (a seq), count. One page of live revocations in seq order: {last seq scanned, scanned, rows}.
 * Paging by seq never skips an entry that exists throughout, whatever is added or removed meanwhile.
 */
export const SNAPSHOT = script(`
local now, after = tonumber(ARGV[2]), ARGV[3]
local members = redis.call('ZRANGEBYSCORE', base .. ':rs', '(' .. after, '+inf', 'WITHSCORES', 'LIMIT', 0, ARGV[4])
local rows = {}
for i = 1, #members, 2 do
  after = members[i + 1]
  local row = readRevocation(members[i])
  if row and tonumber(row[7]) > now then table.insert(rows, row) end
end
return {after, #members / 2, rows}
`)

/** ARGV: now, before (a seq, or "" for the newest), limit, kind?, subject?. Up to limit + 1 {seq, row}, newest first. */
export const LIST_REVOCATIONS = script(`
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

/**
 * ARGV: now, sid, subject, ttlMs, device?, claims, refreshHash, idleTimeoutMs, limit ("" for none), onExceed,
 * evict kind, evict reason?, evict actor?, evict createdAt, leewayMs.
 * Returns {0} when the limit refuses, else {1, session, evicted revocations}.
 */
export const CREATE_SESSION = script(`
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
    table.insert(evicted, record(ARGV[12], live[i][1], subject, opt(ARGV[13]), opt(ARGV[14]), ARGV[15], until_))
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
export const GET_SESSION = script(`
return readSession(ARGV[2])
`)

/** ARGV: now, subject, idleTimeoutMs. Live sessions (not revoked, ended, idle or cut off by the subject), newest first. */
export const LIST_SESSIONS = script(`
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
 * subject?, reason?, actor?, createdAt, expiresAt. Returns {status} or {status, session} or {"reused", revocation}.
 */
export const ROTATE = script(`
local now = clock(ARGV[2])
local sid, presented, nextHash, graceMs = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local key = base .. ':s:' .. sid
local row = redis.call('HMGET', key, 'sid', 'revokedAt', 'expiresAt', 'lastUsedAt', 'cur', 'prev', 'rotatedAt')
if not row[1] then return {'missing'} end
if row[2] then return {'revoked'} end
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
return {'reused', record(ARGV[8], ARGV[9], opt(ARGV[10]), opt(ARGV[11]), opt(ARGV[12]), ARGV[13], ARGV[14])}
`)

/** Returns every key: {kid, alg, privateJwk, createdAt, retiredAt|false}, oldest first. */
export const LIST_KEYS = script(`
local out = {}
for _, kid in ipairs(redis.call('ZRANGE', base .. ':keys', 0, -1)) do
  local row = redis.call('HMGET', base .. ':k:' .. kid, 'kid', 'alg', 'privateJwk', 'createdAt', 'retiredAt')
  if row[1] then table.insert(out, row) end
end
return out
`)

/** ARGV: kid, alg, privateJwk, createdAt, retiredAt?. */
export const SAVE_KEY = script(`
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
export const RETIRE_KEY = script(`
local key = base .. ':k:' .. ARGV[2]
if redis.call('EXISTS', key) == 1 and redis.call('HEXISTS', key, 'retiredAt') == 0 then
  redis.call('HSET', key, 'retiredAt', ARGV[3])
end
publish('t', 'keys')
return 1
`)

/** ARGV: kid. */
export const DELETE_KEY = script(`
redis.call('DEL', base .. ':k:' .. ARGV[2])
redis.call('ZREM', base .. ':keys', ARGV[2])
publish('t', 'keys')
return 1
`)

/** ARGV: now, batch. Deletes up to a batch each of ended revocations, sessions and rate-limit windows: {removed, largest batch}. */
export const PURGE = script(`
local now, batch = ARGV[2], ARGV[3]
local removed = 0
local members = redis.call('ZRANGEBYSCORE', base .. ':rx', '-inf', now, 'LIMIT', 0, batch)
for _, member in ipairs(members) do
  local key = base .. ':r:' .. member
  local subject = redis.call('HGET', key, 'subject')
  if subject then redis.call('ZREM', base .. ':ru:' .. subject, member) end
  redis.call('DEL', key)
  redis.call('ZREM', base .. ':rs', member)
  redis.call('ZREM', base .. ':rx', member)
  redis.call('ZREM', base .. ':rk:' .. string.match(member, '^[^:]*'), member)
  removed = removed + 1
end
local sids = redis.call('ZRANGEBYSCORE', base .. ':sx', '-inf', now, 'LIMIT', 0, batch)
for _, sid in ipairs(sids) do
  local key = base .. ':s:' .. sid
  local subject = redis.call('HGET', key, 'subject')
  if subject then redis.call('ZREM', base .. ':u:' .. subject, sid) end
  redis.call('DEL', key)
  redis.call('ZREM', base .. ':sx', sid)
  removed = removed + 1
end
local windows = redis.call('ZRANGEBYSCORE', base .. ':hx', '-inf', now, 'LIMIT', 0, batch)
for _, name in ipairs(windows) do
  redis.call('DEL', base .. ':h:' .. name)
  redis.call('ZREM', base .. ':hx', name)
  removed = removed + 1
end
return {removed, math.max(#members, #sids, #windows)}
`)

/** ARGV: collection, id. */
export const GET_DOCUMENT = script(`
return redis.call('HGET', base .. ':d:' .. ARGV[2], ARGV[3])
`)

/** ARGV: collection, id, json, expected ("u" for none, "n" for absent, "=" .. text). Returns 1 when written. */
export const PUT_DOCUMENT = script(`
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
export const DELETE_DOCUMENT = script(`
redis.call('ZREM', base .. ':do:' .. ARGV[2], ARGV[3])
return redis.call('HDEL', base .. ':d:' .. ARGV[2], ARGV[3])
`)

/** ARGV: collection, after id ("" for the first), count. Up to count {id, json}, in byte order of ids. */
export const LIST_DOCUMENTS = script(`
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
export const HIT = script(`
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

/** The feed's position: {last entry id or "0-0", the sequence number of the last change}. */
export const POSITION = script(`
local last = redis.call('XREVRANGE', base .. ':feed', '+', '-', 'COUNT', 1)
if #last == 0 then return {'0-0', redis.call('GET', base .. ':n') or '0'} end
local fields = last[1][2]
for i = 1, #fields, 2 do
  if fields[i] == 'n' then return {last[1][1], fields[i + 1]} end
end
return {last[1][1], '0'}
`)
