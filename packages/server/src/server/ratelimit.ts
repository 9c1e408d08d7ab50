// Rate limits in fixed windows counted by the store (`hit`), so that every instance on a shared store
// (PostgreSQL, Redis) sees the same counts. Two ways of counting:
// - `attempt` counts every attempt (registration per IP, password changes), before the work is done;
// - `check` and `fail` count failures only (sign-in, see login.ts): a bucket that reaches its limit of failures
//   in a window is locked out until the window ends, and the lock-out is a document the next attempt reads
//   before any password is hashed. Successes never count, so signing in often never locks anyone out.
import { createHash } from "node:crypto"
import { AuthError } from "revocable"
import { RateLimitedError } from "./errors.ts"
import type { ServerStore } from "revocable/stores"

export interface LoginLimits {
  perAccount: number
  perIp: number
  windowMs: number
}

/** What failures are counted against: an account, an IP, a trusted device. */
export interface Bucket {
  key: string
  limit: number
}

export interface Limiter {
  /** Counts one attempt for the account (when given) and the IP; throws RateLimitedError past either limit. */
  attempt(ip: string, account?: string): Promise<void>
  /** Throws RateLimitedError while any of the buckets is locked out. Counts nothing. */
  check(buckets: readonly Bucket[]): Promise<void>
  /** Counts one failure in each bucket; a bucket at its limit is locked out until its window ends. */
  fail(buckets: readonly Bucket[]): Promise<void>
}

const LOCKOUTS = "lockouts"
/** Expired lock-outs removed each time one is written, so the collection stays about as large as the live ones. */
const SWEEP = 20

/** `scope` separates the counters of different actions ("login", "register"). */
export function limiter(store: ServerStore, scope: string, limits: LoginLimits): Limiter {
  async function guarded<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (cause) {
      throw new AuthError("store_unavailable", undefined, { cause })
    }
  }

  async function count(key: string, limit: number, now: number): Promise<number> {
    const window = await guarded(() => store.hit(`${scope}:${key}`, limits.windowMs, now))
    return window.count > limit ? secondsUntil(window.resetAt, now) : 0
  }

  async function lockedFor(bucket: Bucket, now: number): Promise<number> {
    const text = await guarded(() => store.getDocument(LOCKOUTS, `${scope}:${bucket.key}`))
    const until = text === null ? 0 : (JSON.parse(text) as { until: number }).until
    return until > now ? secondsUntil(until, now) : 0
  }

  async function failed(bucket: Bucket, now: number): Promise<void> {
    const window = await guarded(() => store.hit(`${scope}:failed:${bucket.key}`, limits.windowMs, now))
    if (window.count < bucket.limit) return
    await guarded(() => store.putDocument(LOCKOUTS, `${scope}:${bucket.key}`, JSON.stringify({ until: window.resetAt })))
    if (window.count === bucket.limit) await sweep(now)
  }

  async function sweep(now: number): Promise<void> {
    const page = await guarded(() => store.listDocuments(LOCKOUTS, { limit: SWEEP }))
    for (const item of page.items) {
      if ((JSON.parse(item.json) as { until: number }).until <= now) await guarded(() => store.deleteDocument(LOCKOUTS, item.id))
    }
  }

  return {
    async attempt(ip, account) {
      const now = Date.now()
      const waits = await Promise.all([
        count(`ip:${ip}`, limits.perIp, now),
        account === undefined ? 0 : count(`account:${digest(account)}`, limits.perAccount, now),
      ])
      const wait = Math.max(...waits)
      if (wait > 0) throw new RateLimitedError(wait)
    },

    async check(buckets) {
      const now = Date.now()
      const wait = Math.max(0, ...(await Promise.all(buckets.map((bucket) => lockedFor(bucket, now)))))
      if (wait > 0) throw new RateLimitedError(wait)
    },

    async fail(buckets) {
      const now = Date.now()
      await Promise.all(buckets.map((bucket) => failed(bucket, now)))
    },
  }
}

/** A bucket key for an account, short and free of odd characters whatever the username sent. */
export function digest(account: string): string {
  return createHash("sha256").update(account.trim().toLowerCase()).digest("base64url").slice(0, 22)
}

function secondsUntil(time: number, now: number): number {
  return Math.max(1, Math.ceil((time - now) / 1000))
}
