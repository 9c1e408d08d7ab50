// createAuth's options, validated eagerly: a mistake throws at construction, not at the first request.
import { parseDuration, type Duration } from "./duration.ts"
import { ALGORITHMS, importKey, type Algorithm, type Key, type KeyInput } from "./keys.ts"
import type { Clock, Store } from "./store.ts"
import { verifiedCacheLimits, type VerifiedCacheLimits } from "./verified-cache.ts"

export interface AuthOptions {
  /** The `iss` of every token issued, and the only one accepted. */
  issuer: string
  /** The `aud` of issued tokens (the first, when several) and the set of audiences accepted. */
  audience: string | readonly string[]
  store: Store
  /**
   * Keys given by the application, the first that can sign being the one used. Omit to let revocable manage
   * keys in the store: generated on first start, shared by every instance, rotated with `rotateKey()`.
   */
  keys?: readonly KeyInput[]
  /** The algorithm of keys revocable generates. Default "EdDSA". */
  algorithm?: Algorithm
  /**
   * Managed keys: how long a key made by `rotateKey()` is published in the JWKS before it signs, so that
   * verifiers caching the JWKS hold it before the first token it signs. Keep it above the longest time a
   * verifier may keep a JWKS without refetching it. Default "15m" (why: docs/server.md, "Rotating signing
   * keys"); `rotateKey({ now: true })` skips it.
   */
  keyActivationDelay?: Duration
  /** Default "15m". */
  accessTtl?: Duration
  /** Lifetime of each refresh token, and so the idle expiry of a session. Default "30d". */
  refreshTtl?: Duration
  /** Absolute lifetime of a session, however often it is refreshed. Default "90d". */
  sessionTtl?: Duration
  /** A session unused for this long is over. Default: refreshTtl. */
  idleTimeout?: Duration
  /** Clock skew tolerated on exp, nbf and iat. Default "30s". */
  leeway?: Duration
  /** How long the refresh token just rotated away is still accepted (for retries). Default "0s". */
  reuseGrace?: Duration
  maxSessions?: { limit: number; onExceed: "evict-oldest" | "reject" }
  /** How old the local replica may be before verify asks the store itself. Default "5s". */
  maxStaleness?: Duration
  /** What verify does when it must ask the store and cannot. Default "fail-closed". */
  onStoreUnavailable?: "fail-closed" | "fail-open"
  /** How often expired revocations and sessions are purged; false to leave it to `revocable purge`. Default "10m", at most 24 days. */
  purgeInterval?: Duration | false
  /**
   * Reads the time, in ms since the epoch, wherever the instance needs it: token `iat` and `exp`, claim checks,
   * revocation times, the replica's staleness, purges, the unknown-kid reload interval. Default: `Date.now()`,
   * read at each call. For tests that control time; give the store the same clock (its `clock` option).
   * Staleness is measured in this clock against the change feed's heartbeats, which the SQLite, PostgreSQL and
   * Redis stores date with `Date.now()`: with them, a clock that does not keep `Date.now()`'s time makes the
   * replica count itself fresher, or staler, by the difference. (The memory store's feed is synchronous: its
   * replica is never stale.)
   */
  clock?: Clock
  /**
   * Access tokens whose signature was verified, kept by the whole token string until their exp, so that a token
   * presented again skips its signature check and its decoding (an Ed25519 verify costs about 70 µs, a lookup
   * under 1 µs). Claims, expiry and every revocation are still checked on every call. Bounded in tokens and in
   * bytes (each counted as 256 plus twice its length); the tokens of a retired or replaced key are dropped.
   * false: no cache. Default { entries: 10000, bytes: 16 MiB } (16 * 2 ** 20).
   */
  verifyCache?: { entries?: number; bytes?: number } | false
}

export interface ResolvedOptions {
  issuer: string
  audience: string
  audiences: ReadonlySet<string>
  store: Store
  staticKeys: Key[] | null
  algorithm: Algorithm
  keyActivationDelayMs: number
  accessTtlMs: number
  refreshTtlMs: number
  sessionTtlMs: number
  idleTimeoutMs: number
  leewayMs: number
  reuseGraceMs: number
  maxSessions: { limit: number; onExceed: "evict-oldest" | "reject" } | null
  maxStalenessMs: number
  failOpen: boolean
  purgeIntervalMs: number | null
  clock: Clock
  verifyCache: VerifiedCacheLimits | null
}

const MAX_TIMER_MS = 2 ** 31 - 1
/** Reads Date.now() at each call, rather than holding the function, so that tests that fake Date still move it. */
const systemClock: Clock = () => Date.now()

const STORE_METHODS = ["open", "close", "revoke", "unrevoke", "isRevoked", "snapshot", "listRevocations", "createSession", "getSession", "listSessions", "rotate", "listKeys", "saveKey", "retireKey", "deleteKey", "subscribe", "purge"] as const

export function resolveOptions(options: AuthOptions): ResolvedOptions {
  if (!options || typeof options !== "object") throw new TypeError("createAuth needs an options object.")
  const { issuer, store } = options
  if (typeof issuer !== "string" || issuer === "") throw new TypeError("Option issuer must be a non-empty string.")
  const audiences = typeof options.audience === "string" ? [options.audience] : options.audience
  if (!Array.isArray(audiences) || audiences.length === 0 || !audiences.every((aud) => typeof aud === "string" && aud !== "")) {
    throw new TypeError("Option audience must be a non-empty string or a non-empty array of them.")
  }
  if (!store || typeof store !== "object" || !STORE_METHODS.every((method) => typeof store[method] === "function")) {
    throw new TypeError("Option store is required: a store such as sqliteStore() or memoryStore().")
  }
  const algorithm = options.algorithm ?? "EdDSA"
  if (!ALGORITHMS.includes(algorithm)) throw new TypeError(`Option algorithm must be one of ${ALGORITHMS.join(", ")}.`)
  let staticKeys: Key[] | null = null
  if (options.keys !== undefined) {
    if (!Array.isArray(options.keys) || options.keys.length === 0) throw new TypeError("Option keys must be a non-empty array.")
    staticKeys = options.keys.map(importKey)
    if (!staticKeys.some((key) => key.canSign)) throw new TypeError("Option keys needs at least one key that can sign.")
  }
  const accessTtlMs = positive(options.accessTtl ?? "15m", "accessTtl")
  const refreshTtlMs = positive(options.refreshTtl ?? "30d", "refreshTtl")
  const sessionTtlMs = positive(options.sessionTtl ?? "90d", "sessionTtl")
  const maxSessions = options.maxSessions ?? null
  if (maxSessions !== null) {
    if (!Number.isSafeInteger(maxSessions.limit) || maxSessions.limit < 1) {
      throw new TypeError("Option maxSessions.limit must be a positive integer.")
    }
    if (maxSessions.onExceed !== "evict-oldest" && maxSessions.onExceed !== "reject") {
      throw new TypeError('Option maxSessions.onExceed must be "evict-oldest" or "reject".')
    }
  }
  const onStoreUnavailable = options.onStoreUnavailable ?? "fail-closed"
  if (onStoreUnavailable !== "fail-closed" && onStoreUnavailable !== "fail-open") {
    throw new TypeError('Option onStoreUnavailable must be "fail-closed" or "fail-open".')
  }
  const clock = options.clock ?? systemClock
  if (typeof clock !== "function") throw new TypeError("Option clock must be a function.")
  return {
    issuer,
    audience: audiences[0] as string,
    audiences: new Set(audiences),
    store,
    staticKeys,
    algorithm,
    keyActivationDelayMs: parseDuration(options.keyActivationDelay ?? "15m", "keyActivationDelay"),
    accessTtlMs,
    refreshTtlMs,
    sessionTtlMs,
    idleTimeoutMs: positive(options.idleTimeout ?? refreshTtlMs / 1000, "idleTimeout"),
    leewayMs: parseDuration(options.leeway ?? "30s", "leeway"),
    reuseGraceMs: parseDuration(options.reuseGrace ?? "0s", "reuseGrace"),
    maxSessions: maxSessions && { limit: maxSessions.limit, onExceed: maxSessions.onExceed },
    maxStalenessMs: parseDuration(options.maxStaleness ?? "5s", "maxStaleness"),
    failOpen: onStoreUnavailable === "fail-open",
    purgeIntervalMs: options.purgeInterval === false ? null : interval(options.purgeInterval ?? "10m", "purgeInterval"),
    clock,
    verifyCache: verifiedCacheLimits(options.verifyCache),
  }
}

function positive(value: Duration, option: string): number {
  const ms = parseDuration(value, option)
  if (ms < 1000 || ms % 1000 !== 0) throw new TypeError(`Option ${option} must be a whole number of seconds, at least one.`)
  return ms
}

/** setInterval runs a longer delay after 1 ms, so an interval of 30 days would purge continuously. */
function interval(value: Duration, option: string): number {
  const ms = positive(value, option)
  if (ms > MAX_TIMER_MS) throw new TypeError(`Option ${option} must be at most 24 days.`)
  return ms
}
