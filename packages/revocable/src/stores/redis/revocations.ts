// Revocations: recorded in batches, unrevoked, checked, read in pages and listed, each one script.
import { optional, toRevocation } from "./codec.ts"
import { PAGE, script, type Run } from "./scripts.ts"
import { decodeCursor, encodeCursor, readAhead, settleBatch, type Pending } from "../shared.ts"
import type { Page, Revocation, RevocationInput, Store } from "../../core/store.ts"

/**
 * ARGV: 8 per revocation: kind, id, subject?, reason?, actor?, createdAt, expiresAt, replicaUntil. Records each
 * in order, as that many calls one after the other would: {1, row} for each, or {0, message} for one that
 * failed, whose error leaves the others recorded.
 */
const REVOKE = script(`
local replies = {}
for i = 2, #ARGV, 8 do
  local ok, reply = pcall(record, ARGV[i], ARGV[i + 1], opt(ARGV[i + 2]), opt(ARGV[i + 3]), opt(ARGV[i + 4]), ARGV[i + 5], ARGV[i + 6], ARGV[i + 7])
  if ok then
    table.insert(replies, {1, reply})
  else
    table.insert(replies, {0, type(reply) == 'table' and reply.err or tostring(reply)})
  end
end
return replies
`)
/**
 * At most this many revocations per script. Each costs Redis some 40 µs, and other clients wait for the whole
 * script; the feed's readers are woken once per script.
 */
const MAX_BATCH = 100

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

export interface Revocations extends Pick<Store, "revoke" | "unrevoke" | "isRevoked" | "snapshot" | "listRevocations">, Required<Pick<Store, "readSnapshot">> {
  /** Sends the revocations not sent yet at once: close calls it before it lets go of the connection. */
  flush(): void
}

/**
 * `feedLength`: a script publishes each of its revocations to the feed, whose readers read between scripts:
 * a batch is at most a quarter of the stream, so that a reader that was current before a batch loses nothing to it.
 */
export function revocations(run: Run, feedLength: number): Revocations {
  const batches = new SameTurn(recordBatch, Math.max(1, Math.min(MAX_BATCH, Math.floor(feedLength / 4))))

  /** One script for the batch; a revocation it could not record rejects alone. */
  async function recordBatch(inputs: readonly RevocationInput[]): Promise<Array<Revocation | Promise<Revocation>>> {
    const args: Array<string | number> = []
    for (const input of inputs) {
      args.push(input.kind, input.id, optional(input.subject), optional(input.reason), optional(input.actor), input.createdAt, input.expiresAt, input.replicaUntil ?? "")
    }
    const replies = (await run(REVOKE, args)) as Array<[unknown, unknown]>
    return replies.map(([ok, reply]) => (Number(ok) === 1 ? toRevocation(reply) : Promise.reject(new Error(`Redis refused the revocation: ${String(reply)}`))))
  }

  /** Page after page, each read while the one before is handed over. */
  function readSnapshot(now: number, page: (revocations: Revocation[]) => void): Promise<void> {
    type SnapshotPage = [last: unknown, full: unknown, rows: unknown[]]
    const read = (after: string) => run(SNAPSHOT, [after, PAGE]) as Promise<SnapshotPage>
    return readAhead(
      read(String(now)),
      ([last, full]) => (Number(full) === 1 ? read(String(last)) : null),
      ([, , rows]) => page(rows.map(toRevocation)),
    )
  }

  return {
    revoke: (input) => batches.push(input),
    flush: () => batches.flush(),

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
      await readSnapshot(now, (page) => {
        for (const revocation of page) live.push(revocation)
      })
      return live
    },

    readSnapshot,

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

/**
 * Batches the items pushed in one turn of the event loop: they are written together at the end of the turn
 * (setImmediate), `max` at a time, each batch one call of its own, bounded as any call is; none waits for
 * another. Each item's promise settles as settleBatch settles it. A burst of revocations costs Redis a few
 * scripts and its readers a few wake-ups, not one of each per revocation; one revocation alone goes as soon as
 * its turn ends.
 */
class SameTurn<I, O> {
  readonly #write: (items: I[]) => Promise<Array<O | Promise<O>>>
  readonly #max: number
  #queue: Array<Pending<I, O>> = []
  #scheduled: NodeJS.Immediate | undefined

  constructor(write: (items: I[]) => Promise<Array<O | Promise<O>>>, max: number) {
    this.#write = write
    this.#max = max
  }

  push(item: I): Promise<O> {
    const settled = new Promise<O>((resolve, reject) => this.#queue.push({ item, resolve, reject }))
    this.#scheduled ??= setImmediate(() => this.flush())
    return settled
  }

  flush(): void {
    clearImmediate(this.#scheduled)
    this.#scheduled = undefined
    const queue = this.#queue
    this.#queue = []
    for (let start = 0; start < queue.length; start += this.#max) void settleBatch(queue.slice(start, start + this.#max), this.#write)
  }
}
