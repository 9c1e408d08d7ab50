// The PostgreSQL store's options, checked when the store is made.
import type { Pool } from "pg"
import type { Clock } from "../../core/store.ts"

export type PostgresConnection = { connectionString: string } | { pool: Pool }

export interface PostgresStoreOptions {
  /** The schema that holds the store's tables; it also names the NOTIFY channel. Default "revocable". */
  schema?: string
  /**
   * Milliseconds between heartbeats of the change feed, each proving it delivered everything acknowledged
   * before it. Keep it well under the `maxStaleness` of `createAuth`. Default 1000.
   */
  heartbeatMs?: number
  /**
   * Bound, in milliseconds, on each statement and each lock wait of the connections the store makes (0: none);
   * connecting, and waiting for an answer, are bounded a second longer. Not for a pool of your own, which keeps
   * the settings you gave it. Default 5000.
   */
  statementTimeoutMs?: number
  /**
   * Reads the time for session times. By default the server's own clock, read inside each statement, so that
   * instances whose clocks differ agree; for tests that control time.
   */
  clock?: Clock
}

/** The options, checked, with their defaults. */
export interface Settings {
  /** The pool given, which the store never ends; undefined when it makes its own from `connectionString`. */
  given: Pool | undefined
  connectionString: string | undefined
  schema: string
  heartbeatMs: number
  statementTimeoutMs: number
  clock: Clock | undefined
}

const SCHEMA = /^[a-z_][a-z0-9_]{0,47}$/

export function settings(connection: PostgresConnection, options: PostgresStoreOptions): Settings {
  if (!connection || typeof connection !== "object") {
    throw new TypeError("postgresStore needs { connectionString } or { pool }.")
  }
  const given = "pool" in connection ? connection.pool : undefined
  const connectionString = "connectionString" in connection ? connection.connectionString : undefined
  if ((given === undefined) === (connectionString === undefined)) {
    throw new TypeError("postgresStore needs exactly one of connectionString and pool.")
  }
  if (given !== undefined && (typeof given !== "object" || given === null || typeof given.connect !== "function" || typeof given.query !== "function")) {
    throw new TypeError("Option pool must be a pg Pool.")
  }
  if (connectionString !== undefined && (typeof connectionString !== "string" || connectionString === "")) {
    throw new TypeError("Option connectionString must be a non-empty string.")
  }
  const schema = options.schema ?? "revocable"
  if (typeof schema !== "string" || !SCHEMA.test(schema)) {
    throw new TypeError("Option schema must be 1 to 48 lowercase letters, digits or underscores, not starting with a digit.")
  }
  const heartbeatMs = options.heartbeatMs ?? 1000
  if (!Number.isSafeInteger(heartbeatMs) || heartbeatMs < 10) {
    throw new TypeError("Option heartbeatMs must be an integer of at least 10.")
  }
  if (given !== undefined && options.statementTimeoutMs !== undefined) {
    throw new TypeError("Option statementTimeoutMs is for the store's own pool: set statement_timeout, lock_timeout, query_timeout and connectionTimeoutMillis on yours.")
  }
  const statementTimeoutMs = options.statementTimeoutMs ?? 5000
  if (!Number.isSafeInteger(statementTimeoutMs) || statementTimeoutMs < 0 || statementTimeoutMs > 3_600_000) {
    throw new TypeError("Option statementTimeoutMs must be an integer from 0 to 3600000.")
  }
  const { clock } = options
  if (clock !== undefined && typeof clock !== "function") throw new TypeError("Option clock must be a function.")
  return { given, connectionString, schema, heartbeatMs, statementTimeoutMs, clock }
}
