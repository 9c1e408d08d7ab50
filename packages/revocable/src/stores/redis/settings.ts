// The Redis store's options, checked when the store is made.
import type { RedisClientLike, RedisTarget } from "./connection.ts"
import type { RedisWarning } from "./durability.ts"
import type { Clock } from "../../core/store.ts"

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

/** The options, checked, with their defaults. */
export interface Settings {
  target: RedisTarget
  prefix: string
  heartbeatMs: number
  feedLength: number
  commandTimeoutMs: number
  clock: Clock | undefined
  onWarning: (warning: RedisWarning) => void
}

export function settings(target: RedisTarget, options: RedisStoreOptions): Settings {
  checkTarget(target)
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
  return { target, prefix, heartbeatMs, feedLength, commandTimeoutMs, clock, onWarning }
}

function checkTarget(target: RedisTarget): void {
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
}

function integer(value: number, option: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new TypeError(`Option ${option} must be an integer from ${min} to ${max}.`)
  }
  return value
}
