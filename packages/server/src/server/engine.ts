/**
 * The store and the core engine that a configuration describes: opening the configured store (its signing keys
 * protected at rest) and createAuth with the server's settings.
 *
 * @example
 * const store = await openStore(config)
 * const auth = createAuthFromConfig(config, store)
 */
import { join } from "node:path"
import { createAuth, type Auth } from "revocable"
import type { ServerStore } from "revocable/stores"
import type { ServerConfig } from "./config.ts"
import { prepareKeyProtection, protectKeys } from "./keystore.ts"

/** Opens the configured store; the PostgreSQL and Redis modules (and their drivers) load only when used. */
export async function openStore(config: ServerConfig): Promise<ServerStore> {
  const spec = config.store
  // undefined leaves each store its own default bound.
  const timeoutMs = config.storeTimeoutMs ?? undefined
  const heartbeatMs = feedHeartbeatMs(config.maxStalenessMs)
  let store: ServerStore
  let database: string | null = null
  if (spec === null || spec.startsWith("sqlite:")) {
    const { sqliteStore } = await import("revocable/stores/sqlite")
    database = spec === null ? join(config.dataDir, "revocable.db") : spec.slice("sqlite:".length)
    store = sqliteStore({ path: database, busyTimeoutMs: timeoutMs })
  } else if (spec.startsWith("postgres")) {
    const { postgresStore } = await import("revocable/stores/postgres")
    store = postgresStore({ connectionString: spec }, { schema: config.storeNamespace, statementTimeoutMs: timeoutMs, heartbeatMs })
  } else {
    const { redisStore } = await import("revocable/stores/redis")
    store = redisStore({ url: spec }, { prefix: config.storeNamespace, commandTimeoutMs: timeoutMs, heartbeatMs })
  }
  try {
    // Before the SQLite store opens: its directory and files made private, the KEK read or made.
    const protection = prepareKeyProtection(config.keyEncryptionKeys, database)
    await store.open()
    return await protectKeys(store, protection)
  } catch (error) {
    await store.close().catch(() => undefined)
    throw error
  }
}

/**
 * The feed's heartbeat, a quarter of maxStaleness (at most the stores' default second): the replica then proves
 * itself fresh several times within maxStaleness and does not flap stale between two heartbeats.
 */
export function feedHeartbeatMs(maxStalenessMs: number): number {
  return maxStalenessMs === 0 ? 1000 : Math.min(1000, Math.max(10, Math.floor(maxStalenessMs / 4)))
}

/** The core engine with the server's settings; keys are managed in the store (generated on first start). */
export function createAuthFromConfig(config: ServerConfig, store: ServerStore): Auth {
  return createAuth({
    issuer: config.issuer,
    audience: config.audience,
    store,
    algorithm: config.algorithm,
    keyActivationDelay: `${config.keyActivationDelayMs}ms`,
    accessTtl: config.accessTtlMs / 1000,
    refreshTtl: config.refreshTtlMs / 1000,
    sessionTtl: config.sessionTtlMs / 1000,
    ...(config.idleTimeoutMs === null ? {} : { idleTimeout: config.idleTimeoutMs / 1000 }),
    leeway: config.leewayMs / 1000,
    reuseGrace: config.reuseGraceMs / 1000,
    ...(config.maxSessions === null ? {} : { maxSessions: config.maxSessions }),
    maxStaleness: config.maxStalenessMs / 1000,
    onStoreUnavailable: config.onStoreUnavailable,
    purgeInterval: config.purgeIntervalMs === null ? false : config.purgeIntervalMs / 1000,
  })
}
