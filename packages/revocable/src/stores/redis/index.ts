/**
 * A store on Redis or Redis Cluster (7.0 or later), for applications with several instances. Works with the
 * official `redis` package (node-redis), an optional peer dependency: pass a URL, or a client or cluster client
 * you made (`createClient`, `createCluster`), which the store never closes.
 *
 * Layout. Every key of a store starts with the hash tag `{prefix}`, so every key lives in one slot:
 * - `{p}:r:<kind>:<id>` a revocation (hash), expiring at its `expiresAt`; indexed by `{p}:rs` (all, by
 *   sequence), `{p}:rk:<kind>`, `{p}:ru:<subject>` (by sequence, for listing), `{p}:rx` (by expiry, for purge)
 *   and `{p}:rp` (by `replicaUntil`, for the snapshot: what replicas hold); `{p}:schema` the layout's version
 * - `{p}:s:<sid>` a session (hash), expiring the leeway after its `expiresAt`; `{p}:u:<subject>` its
 *   subject's sessions (by creation), `{p}:sx` every session by expiry; `{p}:g:<subject>` the subject's
 *   generation, kept as long as a session or cut-off that depends on it
 * - `{p}:k:<kid>` and `{p}:keys` the signing keys; `{p}:feed` the change stream, `{p}:n` its sequence
 * - `{p}:d:<collection>` documents (hash) and `{p}:do:<collection>` their ids in order; `{p}:h:<name>` a
 *   rate-limit window, expiring when it ends, and `{p}:hx` every window by its end
 * - `{p}:ae:<seq>` an audit event, `{p}:al…` its indexes (see audit.ts)
 *
 * Why one slot rather than one per subject: a session is addressed by its sid alone, and revoking anything
 * must record it, mark what it revokes, and publish it to every instance in one step, or a crash between
 * the steps loses a revocation (reuse detection most of all). With one tag every operation is one Lua
 * script, atomic and durable with its publication, on a single Redis as on a Cluster. The cost is that one
 * store lives on one shard: the data is small (live revocations and sessions), and separate applications
 * given separate prefixes land on separate shards.
 *
 * Revocations made in one turn of the event loop (a burst of logouts, a loop of `revoke`) go to Redis together, as
 * one script of up to 100, each recorded and published as if alone: the batch costs Redis and the feed's readers
 * one call instead of one each. A revocation alone goes as soon as its turn ends, and waits for no other.
 *
 * One clock: session times (creation, last use, expiry, idle time, the rotation grace) are read inside each
 * script from the Redis server's clock (`TIME`), so instances whose clocks differ agree on them. Keys expire
 * by TTL (PEXPIREAT at `expiresAt`, by that same clock); `purge()` trims the indexes.
 *
 * The change feed is a Redis stream read with XREAD BLOCK on a dedicated connection: a position to resume
 * from after a reconnect, a sequence number in each entry to detect a gap (then `reset`), and a `sync` after
 * every read that returned everything committed so far (at least every `heartbeatMs` while healthy), dated
 * when that read was sent.
 *
 * Faults. Every command is bounded by `commandTimeoutMs` (default 2 s), connecting too, so a stalled Redis
 * (paused, partitioned) makes calls reject, never hang; a command that timed out may still run once Redis
 * resumes. While Redis is unreachable, calls wait for the reconnect within that time, except `isRevoked`,
 * which fails at once; reads and idempotent writes (revocations, keys) whose connection broke under them
 * are sent once more. The store's own connections reconnect within about 100 ms of Redis accepting them.
 *
 * At open, the store warns (`onWarning`, by default `process.emitWarning`; also kept in `warnings`) when
 * Redis has neither AOF nor RDB persistence, or a `maxmemory-policy` other than `noeviction` (revocations carry
 * a TTL, so `volatile-*` policies can evict them too). Run Redis with `appendonly yes` and
 * `appendfsync always` so that no acknowledged revocation is lost.
 *
 * @example
 * import { createAuth } from "revocable"
 * import { redisStore } from "revocable/stores/redis"
 *
 * const auth = createAuth({ issuer, audience, store: redisStore({ url: "redis://127.0.0.1:6379" }) })
 *
 * // or with a client of your own, here a cluster:
 * const cluster = createCluster({ rootNodes: [{ url: "redis://10.0.0.1:6379" }] })
 * await cluster.connect()
 * const store = redisStore({ client: cluster }, { prefix: "myapp" })
 */
import { redisAudit } from "./audit.ts"
import { mainConnection, readerConnection, type Connection, type RedisTarget } from "./connection.ts"
import { documents } from "./documents.ts"
import { durabilityWarnings, type RedisWarning } from "./durability.ts"
import { readPosition, startFeed, type Feed } from "./feed.ts"
import { revocations } from "./revocations.ts"
import { PAGE, runner, script } from "./scripts.ts"
import { sessions } from "./sessions.ts"
import { settings, type RedisStoreOptions } from "./settings.ts"
import { signingKeys } from "./signing.ts"
import type { ChangeEvent, ChangeListener, Subscription } from "../../core/store.ts"
import type { ServerStore } from "../server-store.ts"

export { RedisTimeoutError, type RedisClientLike, type RedisClusterLike, type RedisTarget } from "./connection.ts"
export type { RedisWarning } from "./durability.ts"
export type { RedisStoreOptions } from "./settings.ts"

export interface RedisStore extends ServerStore {
  /** The warnings found at open: persistence off, or an eviction policy that can drop revocations. */
  readonly warnings: readonly RedisWarning[]
}

const NOT_OPEN = "The Redis store is not open: call open() first."

/** ARGV: now, batch. Deletes up to a batch each of ended revocations, sessions and rate-limit windows: {removed, largest batch}. */
const PURGE = script(`
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
redis.call('ZREMRANGEBYSCORE', base .. ':rp', '-inf', now)
return {removed, math.max(#members, #sids, #windows)}
`)

/**
 * Layout version 2 indexes revocations by replicaUntil (`{p}:rp`). Revocations recorded before it are indexed
 * with their expiry, which is when replicas let go of them then. Runs once, at the first open by this version.
 */
const MIGRATE = script(`
if redis.call('GET', base .. ':schema') then return 0 end
for _, member in ipairs(redis.call('ZRANGE', base .. ':rx', 0, -1)) do
  local key = base .. ':r:' .. member
  local expiresAt = redis.call('HGET', key, 'expiresAt')
  if expiresAt then
    redis.call('HSETNX', key, 'replicaUntil', expiresAt)
    redis.call('ZADD', base .. ':rp', redis.call('HGET', key, 'replicaUntil'), member)
  end
end
redis.call('SET', base .. ':schema', '2')
return 1
`)

export function redisStore(target: RedisTarget, options: RedisStoreOptions = {}): RedisStore {
  const { prefix, heartbeatMs, feedLength, commandTimeoutMs, clock, onWarning } = settings(target, options)
  const base = `{${prefix}}`
  const feedKey = `${base}:feed`
  const warnings: RedisWarning[] = []
  const listeners = new Set<ChangeListener>()
  let main: Connection | undefined
  let opening: Promise<void> | undefined
  let closed = false
  let feed: Promise<Feed> | undefined

  function connection(): Connection {
    if (closed || !main) throw new Error(NOT_OPEN)
    return main
  }

  const run = runner(connection, base, feedLength, commandTimeoutMs)
  const { flush: flushRevocations, ...revocationCalls } = revocations(run, feedLength)

  async function open(): Promise<void> {
    if (closed) throw new Error("This Redis store is closed.")
    opening ??= connect().catch((error: unknown) => {
      opening = undefined
      throw error
    })
    return opening
  }

  async function connect(): Promise<void> {
    main = await mainConnection(target, base, commandTimeoutMs)
    await run(MIGRATE, [], "retry")
    for (const warning of await durabilityWarnings(target, connection, commandTimeoutMs)) {
      warnings.push(warning)
      onWarning(warning)
    }
  }

  function dispatch(event: ChangeEvent): void {
    for (const listener of [...listeners]) {
      try {
        listener(event)
      } catch (error) {
        process.emitWarning(error instanceof Error ? error : String(error), { code: "REVOCABLE_LISTENER" })
      }
    }
  }

  function openFeed(): Promise<Feed> {
    return startFeed({
      connect: () => readerConnection(target, feedKey, commandTimeoutMs),
      position: () => readPosition(run),
      feedKey,
      heartbeatMs,
      commandTimeoutMs,
      dispatch,
    })
  }

  async function stopFeed(): Promise<void> {
    const current = feed
    feed = undefined
    if (current) await (await current.catch(() => undefined))?.stop()
  }

  return {
    name: "redis",
    heartbeatMs,
    get warnings() {
      return warnings
    },

    open,

    async close() {
      if (closed) return
      // Revocations made in this turn are sent before the connection goes, and answered as it closes.
      flushRevocations()
      closed = true
      listeners.clear()
      await opening?.catch(() => undefined)
      await stopFeed()
      await main?.close()
    },

    ...revocationCalls,
    ...sessions(run, clock),
    ...signingKeys(run, clock),

    async subscribe(listener): Promise<Subscription> {
      connection()
      listeners.add(listener)
      try {
        await (feed ??= openFeed().catch((error: unknown) => {
          feed = undefined
          throw error
        }))
      } catch (error) {
        listeners.delete(listener)
        throw error
      }
      return {
        async close() {
          if (listeners.delete(listener) && listeners.size === 0) await stopFeed()
        },
      }
    },

    ...documents(run),
    ...redisAudit(run, clock),

    async purge(now) {
      let removed = 0
      for (;;) {
        const [count, largest] = (await run(PURGE, [now, PAGE])) as unknown[]
        removed += Number(count)
        if (Number(largest) < PAGE) return removed
      }
    },
  }
}
