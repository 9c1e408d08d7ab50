/**
 * A store on Redis or Redis Cluster (7.0 or later), for applications with several instances. Works with the
 * official `redis` package (node-redis), an optional peer dependency: pass a URL, or a client or cluster client
 * you made (`createClient`, `createCluster`), which the store never closes.
 *
 * Layout. Every key of a store starts with the hash tag `{prefix}`, so every key lives in one slot:
 * - `{p}:r:<kind>:<id>` a revocation (hash), expiring at its `expiresAt`; indexed by `{p}:rs` (all, by
 *   sequence), `{p}:rk:<kind>`, `{p}:ru:<subject>` (by sequence, for listing) and `{p}:rx` (by expiry, for purge)
 * - `{p}:s:<sid>` a session (hash), expiring the leeway after its `expiresAt`; `{p}:u:<subject>` its
 *   subject's sessions (by creation), `{p}:sx` every session by expiry; `{p}:g:<subject>` the subject's
 *   generation, kept as long as a session or cut-off that depends on it
 * - `{p}:k:<kid>` and `{p}:keys` the signing keys; `{p}:feed` the change stream, `{p}:n` its sequence
 * - `{p}:d:<collection>` documents (hash) and `{p}:do:<collection>` their ids in order; `{p}:h:<name>` a
 *   rate-limit window, expiring when it ends, and `{p}:hx` every window by its end
 *
 * Why one slot rather than one per subject: a session is addressed by its sid alone, and revoking anything
 * must record it, mark what it revokes, and publish it to every instance in one step, or a crash between
 * the steps loses a revocation (reuse detection most of all). With one tag every operation is one Lua
 * script, atomic and durable with its publication, on a single Redis as on a Cluster. The cost is that one
 * store lives on one shard: the data is small (live revocations and sessions), and separate applications
 * given separate prefixes land on separate shards.
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
import { decodeCursor, decodeIdCursor, encodeCursor } from "../shared.ts"
import * as scripts from "./scripts.ts"
import type { Script } from "./scripts.ts"
import {
  bounded,
  clustered,
  createClient,
  guard,
  isCluster,
  isConnectionError,
  isNoScript,
  ownClient,
  standalone,
  unguard,
  type Connection,
  type RedisClientLike,
  type RedisClusterLike,
} from "./connection.ts"
import { startFeed, type Feed } from "./feed.ts"
import type {
  ChangeEvent,
  ChangeListener,
  Clock,
  Page,
  Revocation,
  RevocationKind,
  Session,
  Store,
  StoredKey,
  Subscription,
} from "../../core/store.ts"
import type { Document, ServerStore } from "../server-store.ts"

export { RedisTimeoutError, type RedisClientLike, type RedisClusterLike } from "./connection.ts"

export type RedisTarget = { url: string } | { client: RedisClientLike | RedisClusterLike }

export interface RedisWarning {
  code: "REVOCABLE_REDIS_PERSISTENCE" | "REVOCABLE_REDIS_EVICTION"
  message: string
}

export interface RedisStoreOptions {
  /** Starts every key; the hash tag of them all. Default "revocable". */
  prefix?: string
  /** The longest silence of a healthy feed, in ms: a `sync` comes at least this often. Default 1000. */
  heartbeatMs?: number
  /** About how many changes the stream keeps for instances that reconnect; beyond, they reload the snapshot. Default 10 000. */
  feedLength?: number
  /**
   * How long Redis may take to answer one command, in ms, waiting for a reconnect included; then the call
   * rejects. Also bounds connecting. The feed's blocking read gets `heartbeatMs` more. Default 2000.
   */
  commandTimeoutMs?: number
  /** Reads the time for session times, for tests that control time. Default: the Redis server's clock (`TIME`). */
  clock?: Clock
  /** Receives each warning found at open. Default: `process.emitWarning`. */
  onWarning?: (warning: RedisWarning) => void
}

export interface RedisStore extends ServerStore {
  /** The warnings found at open: persistence off, or an eviction policy that can drop revocations. */
  readonly warnings: readonly RedisWarning[]
}

/**
 * What a call does when Redis is unreachable. `fast`: fails at once. `wait`: waits for the reconnect within
 * its timeout; for writes that must not run twice. `retry`: also sends once more when the connection broke
 * under it; for reads and idempotent writes (a revocation again is the same revocation; a subject's cut-off
 * rises again, as two calls would raise it). After a lost answer the retry's answer is the one returned:
 * `unrevoke` and `deleteDocument` then say false for what the first attempt removed.
 */
type Mode = "fast" | "wait" | "retry"

const PAGE = 1000
const NOT_OPEN = "The Redis store is not open: call open() first."

export function redisStore(target: RedisTarget, options: RedisStoreOptions = {}): RedisStore {
  const source = checkTarget(target)
  const prefix = options.prefix ?? "revocable"
  if (typeof prefix !== "string" || !/^[^{}]{1,128}$/.test(prefix)) {
    throw new TypeError("Option prefix must be a string of 1 to 128 characters without { or }.")
  }
  const heartbeatMs = integer(options.heartbeatMs ?? 1000, "heartbeatMs", 10, 60_000)
  const feedLength = integer(options.feedLength ?? 10_000, "feedLength", 1, 10_000_000)
  const commandTimeoutMs = integer(options.commandTimeoutMs ?? 2000, "commandTimeoutMs", 10, 3_600_000)
  const clock = options.clock
  if (clock !== undefined && typeof clock !== "function") throw new TypeError("Option clock must be a function.")
  const onWarning = options.onWarning ?? ((warning: RedisWarning) => process.emitWarning(warning.message, { code: warning.code }))
  if (typeof onWarning !== "function") throw new TypeError("Option onWarning must be a function.")

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

  /** The store's now for the scripts that need it: "" has them read the Redis server's clock. */
  function timeArg(): string {
    return clock === undefined ? "" : String(clock())
  }

  async function run(script: Script, args: readonly (string | number)[], mode: Mode = "retry"): Promise<unknown> {
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

  async function open(): Promise<void> {
    if (closed) throw new Error("This Redis store is closed.")
    opening ??= connect().catch((error: unknown) => {
      opening = undefined
      throw error
    })
    return opening
  }

  async function connect(): Promise<void> {
    main = await connectMain()
    await checkServer()
  }

  async function connectMain(): Promise<Connection> {
    if ("url" in source) {
      return standalone(await ownClient((socket) => createClient(source.url, socket), commandTimeoutMs), "close", commandTimeoutMs)
    }
    const client = source.client
    guard(client)
    try {
      if (!client.isOpen) await bounded(commandTimeoutMs, () => client.connect())
    } catch (error) {
      unguard(client)
      throw error
    }
    return isCluster(client) ? clustered(client, base, "keep") : standalone(client, "keep", commandTimeoutMs)
  }

  /** Warns when Redis may lose or evict what the store acknowledged. CONFIG may be disabled: then it says nothing. */
  async function checkServer(): Promise<void> {
    const nodes: Array<(args: string[]) => Promise<unknown>> = []
    if ("client" in source && isCluster(source.client)) {
      const cluster = source.client
      for (const master of cluster.masters) {
        nodes.push((args) => bounded(commandTimeoutMs, async () => (await cluster.nodeClient(master)).sendCommand(args)))
      }
    } else {
      const conn = connection()
      nodes.push((args) => conn.send(args, commandTimeoutMs, true))
    }
    const found = new Map<RedisWarning["code"], string>()
    for (const send of nodes) {
      let config: Map<string, string>
      try {
        config = pairs(await send(["CONFIG", "GET", "appendonly", "save", "maxmemory-policy"]))
      } catch {
        continue
      }
      if (config.get("appendonly") !== "yes" && !config.get("save")) {
        found.set(
          "REVOCABLE_REDIS_PERSISTENCE",
          "Redis persistence is off (neither AOF nor RDB): revocations are lost when Redis restarts. Set appendonly yes and appendfsync always.",
        )
      }
      const policy = config.get("maxmemory-policy")
      if (policy !== undefined && policy !== "noeviction") {
        found.set(
          "REVOCABLE_REDIS_EVICTION",
          `Redis maxmemory-policy is ${policy}: under memory pressure it can evict revocations. Set maxmemory-policy noeviction.`,
        )
      }
    }
    for (const [code, message] of found) {
      const warning = { code, message }
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

  /** The feed's own connection: its blocking read would hold up every command queued behind it. */
  async function readerConnection(): Promise<Connection> {
    if ("url" in source) {
      return standalone(await ownClient((socket) => createClient(source.url, socket), commandTimeoutMs), "destroy", commandTimeoutMs)
    }
    const client = source.client
    if (!isCluster(client)) {
      const socket = client.options?.socket
      const make = async (overrides: object) => client.duplicate({ disableOfflineQueue: true, socket: { ...socket, ...overrides } })
      return standalone(await ownClient(make, commandTimeoutMs), "destroy", commandTimeoutMs)
    }
    const cluster = client.duplicate()
    guard(cluster)
    try {
      await bounded(commandTimeoutMs, () => cluster.connect())
    } catch (error) {
      cluster.destroy()
      throw error
    }
    return clustered(cluster, feedKey, "destroy")
  }

  function openFeed(): Promise<Feed> {
    return startFeed({
      connect: readerConnection,
      position: async () => parsePosition(await run(scripts.POSITION, [])),
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
      closed = true
      listeners.clear()
      await opening?.catch(() => undefined)
      await stopFeed()
      await main?.close()
    },

    async revoke(input) {
      const row = await run(scripts.REVOKE, [
        input.kind,
        input.id,
        optional(input.subject),
        optional(input.reason),
        optional(input.actor),
        input.createdAt,
        input.expiresAt,
      ])
      return toRevocation(row)
    },

    async unrevoke(kind, id) {
      return Number(await run(scripts.UNREVOKE, [kind, id])) === 1
    },

    async isRevoked(query) {
      // Verify asks the store only when its replica is stale, on a request's path: while Redis is unreachable
      // it fails at once (store_unavailable, or fail-open) rather than hold every request for a reconnect.
      const reply = await run(scripts.IS_REVOKED, [query.now, query.jti, query.sid, query.subject, query.gen, query.kid], "fast")
      return Number(reply) === 1
    },

    async snapshot(now) {
      const live: Revocation[] = []
      let after = "0"
      for (;;) {
        const [last, scanned, rows] = (await run(scripts.SNAPSHOT, [now, after, PAGE])) as [unknown, unknown, unknown[]]
        for (const row of rows) live.push(toRevocation(row))
        if (Number(scanned) < PAGE) return live
        after = String(last)
      }
    },

    async listRevocations(query): Promise<Page<Revocation>> {
      const before = decodeCursor(query.cursor)
      const rows = (await run(scripts.LIST_REVOCATIONS, [
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

    async createSession(input) {
      const { session, evictTemplate } = input
      const reply = (await run(
        scripts.CREATE_SESSION,
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
        ],
        "wait",
      )) as unknown[]
      if (Number(reply[0]) !== 1) return { ok: false, reason: "limit" }
      return { ok: true, session: toSession(reply[1]), evicted: (reply[2] as unknown[]).map(toRevocation) }
    },

    async getSession(sid) {
      const row = await run(scripts.GET_SESSION, [sid])
      return row == null ? null : toSession(row)
    },

    async listSessions(subject, idleTimeoutMs) {
      const rows = (await run(scripts.LIST_SESSIONS, [timeArg(), subject, idleTimeoutMs])) as unknown[]
      return rows.map(toSession)
    },

    async rotate(input) {
      const reuse = input.reuseRevocation
      const reply = (await run(
        scripts.ROTATE,
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

    async listKeys() {
      const rows = (await run(scripts.LIST_KEYS, [])) as unknown[][]
      return rows.map(
        (row): StoredKey => ({
          kid: String(row[0]),
          alg: String(row[1]),
          privateJwk: String(row[2]),
          createdAt: Number(row[3]),
          retiredAt: row[4] == null ? null : Number(row[4]),
        }),
      )
    },
    async saveKey(key) {
      await run(scripts.SAVE_KEY, [key.kid, key.alg, key.privateJwk, key.createdAt, optional(key.retiredAt === null ? null : String(key.retiredAt))])
    },
    async retireKey(kid, at) {
      await run(scripts.RETIRE_KEY, [kid, at])
    },
    async deleteKey(kid) {
      await run(scripts.DELETE_KEY, [kid])
    },

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

    async getDocument(collection, id) {
      return nullable(await run(scripts.GET_DOCUMENT, [collection, id]))
    },
    async putDocument(collection, id, json, expected) {
      const condition = expected === undefined ? "u" : expected === null ? "n" : `=${expected}`
      // Only a write without a condition is the same when sent twice.
      return Number(await run(scripts.PUT_DOCUMENT, [collection, id, json, condition], expected === undefined ? "retry" : "wait")) === 1
    },
    async deleteDocument(collection, id) {
      return Number(await run(scripts.DELETE_DOCUMENT, [collection, id])) === 1
    },
    async listDocuments(collection, query): Promise<Page<Document>> {
      const after = decodeIdCursor(query.cursor)
      const rows = (await run(scripts.LIST_DOCUMENTS, [collection, after ?? "", query.limit + 1])) as unknown[][]
      const items = rows.slice(0, query.limit).map((row) => ({ id: String(row[0]), json: String(row[1]) }))
      const last = items.at(-1)
      return { items, next: rows.length > query.limit && last ? encodeCursor(last.id) : null }
    },
    async hit(key, windowMs, now) {
      const [count, resetAt] = (await run(scripts.HIT, [key, now, now + windowMs], "wait")) as unknown[]
      return { count: Number(count), resetAt: Number(resetAt) }
    },

    async purge(now) {
      let removed = 0
      for (;;) {
        const [count, largest] = (await run(scripts.PURGE, [now, PAGE])) as unknown[]
        removed += Number(count)
        if (Number(largest) < PAGE) return removed
      }
    },
  }
}

function checkTarget(target: RedisTarget): RedisTarget {
  if (!target || typeof target !== "object") throw new TypeError("redisStore needs { url } or { client }.")
  const hasUrl = "url" in target && target.url !== undefined
  const hasClient = "client" in target && target.client !== undefined
  if (hasUrl === hasClient) throw new TypeError("redisStore needs exactly one of { url } or { client }.")
  if ("url" in target) {
    if (typeof target.url !== "string" || !/^(rediss?|unix):/.test(target.url)) {
      throw new TypeError("Option url must be a redis://, rediss:// or unix: URL.")
    }
  } else {
    const client = target.client as Partial<RedisClientLike> | null
    if (!client || typeof client.sendCommand !== "function" || typeof client.duplicate !== "function") {
      throw new TypeError("Option client must be a node-redis client or cluster client (createClient, createCluster).")
    }
  }
  return target
}

function integer(value: number, option: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new TypeError(`Option ${option} must be an integer from ${min} to ${max}.`)
  }
  return value
}

function optional(value: string | null): string {
  return value === null ? "" : `=${value}`
}

function nullable(value: unknown): string | null {
  return value == null ? null : String(value)
}

function toRevocation(row: unknown): Revocation {
  const r = row as unknown[]
  return {
    kind: String(r[0]) as RevocationKind,
    id: String(r[1]),
    subject: nullable(r[2]),
    reason: nullable(r[3]),
    actor: nullable(r[4]),
    createdAt: Number(r[5]),
    expiresAt: Number(r[6]),
    cutoff: Number(r[7]),
  }
}

function toSession(row: unknown): Session {
  const r = row as unknown[]
  return {
    sid: String(r[0]),
    subject: String(r[1]),
    gen: Number(r[2]),
    createdAt: Number(r[3]),
    lastUsedAt: Number(r[4]),
    expiresAt: Number(r[5]),
    device: nullable(r[6]),
    claims: JSON.parse(String(r[7])) as Record<string, unknown>,
    revokedAt: r[8] == null ? null : Number(r[8]),
  }
}

function parsePosition(reply: unknown): [string, number] {
  const [id, n] = reply as [unknown, unknown]
  return [String(id), Number(n)]
}

/** CONFIG GET's reply as a map, RESP2 (flat array) or RESP3 (map) alike. */
function pairs(reply: unknown): Map<string, string> {
  const map = new Map<string, string>()
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), String(reply[i + 1]))
  } else if (reply instanceof Map) {
    for (const [key, value] of reply) map.set(String(key), String(value))
  } else if (reply && typeof reply === "object") {
    for (const [key, value] of Object.entries(reply)) map.set(key, String(value))
  }
  return map
}
