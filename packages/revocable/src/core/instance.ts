// One auth instance: its units, wired together, and the context its token operations share.
import type { ClaimRules } from "./claims.ts"
import { Events } from "./events.ts"
import { Housekeeping } from "./housekeeping.ts"
import { Keychain } from "./keychain.ts"
import type { TokenType } from "./keys.ts"
import { Lifecycle } from "./lifecycle.ts"
import { resolveOptions, type AuthOptions, type ResolvedOptions } from "./options.ts"
import { Replica } from "./replica.ts"
import { ReplicaSync } from "./sync.ts"
import type { Clock, Store } from "./store.ts"

export interface Context {
  readonly config: ResolvedOptions
  readonly store: Store
  readonly clock: Clock
  readonly rules: Readonly<Record<TokenType, ClaimRules>>
  /**
   * How long a revocation outlives the last token it matches: the leeway that token is still accepted for, and
   * the leeway again, so that an instance whose clock is up to the leeway behind the store's (or the purging
   * instance's) still finds the revocation while it accepts the token.
   */
  readonly retentionMs: number
  /** Nothing a token can match outlives this, counted from now: its session's absolute end, plus retention. */
  readonly longestLifeMs: number
  readonly replica: Replica
  readonly events: Events
  readonly keys: Keychain
  readonly sync: ReplicaSync
  readonly housekeeping: Housekeeping
  readonly lifecycle: Lifecycle
}

/** Validates the options (throwing at once) and builds the units; nothing touches the store before ready(). */
export function createContext(options: AuthOptions): Context {
  const config = resolveOptions(options)
  const { store, clock } = config
  const retentionMs = 2 * config.leewayMs
  const longestLifeMs = Math.max(config.sessionTtlMs, config.refreshTtlMs, config.accessTtlMs) + retentionMs
  warnIfStalenessUnderHeartbeat(config.maxStalenessMs, store.heartbeatMs)
  const replica = new Replica()
  const events = new Events()
  const keys = new Keychain({
    store,
    staticKeys: config.staticKeys,
    algorithm: config.algorithm,
    activationDelayMs: config.keyActivationDelayMs,
    clock,
    replica,
    events,
  })
  const sync = new ReplicaSync({ store, replica, clock, maxStalenessMs: config.maxStalenessMs, events, onKeys: () => keys.changed() })
  const housekeeping = new Housekeeping({
    store,
    replica,
    clock,
    intervalMs: config.purgeIntervalMs,
    managedKeys: config.staticKeys === null,
    longestLifeMs,
    events,
  })
  const lifecycle = new Lifecycle(
    async () => {
      await store.open()
      await sync.start()
      await keys.start()
      housekeeping.start()
    },
    (cause) => events.unavailable(cause),
  )
  return { config, store, clock, rules: claimRules(config), retentionMs, longestLifeMs, replica, events, keys, sync, housekeeping, lifecycle }
}

/** Stops the purge timer (once a start under way has settled, so that it cannot set one after) and the feed, then the store. */
export async function closeContext(ctx: Context): Promise<void> {
  if (!(await ctx.lifecycle.close())) return
  ctx.housekeeping.stop()
  await ctx.sync.close()
  await ctx.store.close()
}

/**
 * A feed that proves itself up to date every heartbeatMs cannot keep a replica younger than that: with
 * maxStaleness at or under the heartbeat, the replica counts itself stale between heartbeats, so verify asks the
 * store and readiness flaps. Said once at construction, as a warning, since the instance still works.
 */
function warnIfStalenessUnderHeartbeat(maxStalenessMs: number, heartbeatMs: number): void {
  if (heartbeatMs === 0 || maxStalenessMs === 0 || maxStalenessMs > 2 * heartbeatMs) return
  process.emitWarning(
    `maxStaleness (${maxStalenessMs} ms) should be more than twice the store's heartbeat (${heartbeatMs} ms): ` +
      "between heartbeats the replica counts as stale and verify asks the store. Lower the store's heartbeatMs.",
    { code: "REVOCABLE_STALENESS" },
  )
}

function claimRules(config: ResolvedOptions): Record<TokenType, ClaimRules> {
  const rule = (maxLifetimeMs: number): ClaimRules => ({
    issuer: config.issuer,
    audiences: config.audiences,
    leeway: config.leewayMs / 1000,
    maxLifetime: maxLifetimeMs / 1000,
  })
  return { access: rule(config.accessTtlMs), refresh: rule(config.refreshTtlMs) }
}
