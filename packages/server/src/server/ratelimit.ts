// Login rate limits: attempts per account and per client IP in fixed windows counted by the store (`hit`), so
// that every instance on a shared store (PostgreSQL, Redis) sees the same counts. Attempts are counted before
// the password is checked, which also keeps an attacker from making the server hash passwords at will.
import { createHash } from "node:crypto"
import { AuthError, RateLimitedError } from "revocable"
import type { ServerStore } from "revocable/stores"

export interface LoginLimits {
  perAccount: number
  perIp: number
  windowMs: number
}

export interface Limiter {
  /** Counts one attempt for the account (when given) and the IP; throws RateLimitedError past either limit. */
  attempt(ip: string, account?: string): Promise<void>
}

/** `scope` separates the counters of different actions ("login", "register"). */
export function limiter(store: ServerStore, scope: string, limits: LoginLimits): Limiter {
  async function count(key: string, limit: number, now: number): Promise<number> {
    let window
    try {
      window = await store.hit(`${scope}:${key}`, limits.windowMs, now)
    } catch (cause) {
      throw new AuthError("store_unavailable", undefined, { cause })
    }
    return window.count > limit ? Math.max(1, Math.ceil((window.resetAt - now) / 1000)) : 0
  }

  return {
    async attempt(ip, account) {
      const now = Date.now()
      const waits = await Promise.all([
        count(`ip:${ip}`, limits.perIp, now),
        account === undefined ? 0 : count(`account:${digest(account.trim().toLowerCase())}`, limits.perAccount, now),
      ])
      const wait = Math.max(...waits)
      if (wait > 0) throw new RateLimitedError(wait)
    },
  }
}

/** Keys stay short and free of odd characters whatever the username sent. */
function digest(value: string): string {
  return createHash("sha256").update(value).digest("base64url").slice(0, 22)
}
