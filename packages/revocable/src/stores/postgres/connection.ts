// The pool the PostgreSQL store's calls run on, how its connections are bounded, and what its parts share.
import { Pool, type ClientBase, type ClientConfig, type PoolConfig } from "pg"
import { retried } from "./retry.ts"
import type { Settings } from "./settings.ts"
import type { Statements } from "./statements.ts"
import type { Clock } from "../../core/store.ts"

/** How much longer than the server's own bound the client waits for an answer before giving the connection up. */
const CLIENT_GRACE_MS = 1000
/** Rows per statement of the snapshot and of the purge, each well within the statement bound. */
export const PAGE = 10_000

export interface Database {
  pool: Pool
  /** For the feed's connection, which is never one of the pool's. */
  clientConfig: ClientConfig
  /** For a pool of the same settings: the second run of a call whose connection was lost (see afresh()). */
  poolConfig: PoolConfig
  /** Reads, and writes that may safely run twice, run once more on a new connection if theirs was lost. */
  safely<T>(operation: (db: Pool) => Promise<T>): Promise<T>
  /** Ends the store's own pool; leaves a given one as it found it. */
  release(): Promise<void>
}

/** What the store's operations share: the database, its SQL, and the clock for session times. */
export interface Context extends Database {
  sql: Statements
  /** The `clock` option; without it, each statement reads the server's clock (see storeNow). */
  clock: Clock | undefined
}

export function database({ given, connectionString, statementTimeoutMs }: Settings): Database {
  const bounded = given === undefined && statementTimeoutMs > 0
  const clientBound = statementTimeoutMs + CLIENT_GRACE_MS
  // The feed's connection and the pool's alike. A server that accepts the connection but does not answer (one
  // stopped, or partitioned away) holds the startup handshake as long as any query: it is bounded the same.
  const clientConfig: ClientConfig = given
    ? { ...given.options }
    : bounded
      ? { connectionString, keepAlive: true, connectionTimeoutMillis: clientBound, query_timeout: clientBound }
      : { connectionString, keepAlive: true, connectionTimeoutMillis: 10_000 }
  const poolConfig: PoolConfig = given
    ? given.options
    : {
        ...clientConfig,
        ...(bounded
          ? {
              // Before the connection serves its first query (pg >= 8.20). One that cannot take the bounds is
              // closed rather than used unbounded, and the query waiting on it fails.
              onConnect: async (client: ClientBase) => {
                await client.query(`SET statement_timeout = ${statementTimeoutMs}; SET lock_timeout = ${statementTimeoutMs}`)
              },
            }
          : {}),
      }
  const pool = given ?? new Pool(poolConfig)
  // pg emits 'error' on the pool when an idle connection dies (a server restart); the pool discards it and
  // connects again when needed. Without a listener Node would end the process.
  const onIdleError = (error: Error) => {
    if (given && pool.listenerCount("error") === 1) {
      process.emitWarning(`A connection of the pool given to postgresStore was lost while idle: ${error.message}`, { code: "REVOCABLE_POSTGRES_POOL" })
    }
  }
  pool.on("error", onIdleError)

  return {
    pool,
    clientConfig,
    poolConfig,
    safely: (operation) => retried(pool, poolConfig, operation),
    async release() {
      if (given) pool.off("error", onIdleError)
      else await pool.end()
    },
  }
}
