// Transient failures: an operation whose connection was lost under it runs once more, on a new connection.
import { Pool, type PoolConfig } from "pg"

/**
 * The connection died under the call: its backend was terminated (57P01: pg_terminate_backend, a fast shutdown),
 * the server crashed (57P02), or the connection was reset or closed. Not a timeout, nor any answer of the server's.
 */
const LOST_CODES = new Set(["57P01", "57P02", "08000", "08003", "08006", "ECONNRESET", "EPIPE"])
/** pg's own, when the connection ends under a query, or a query meets a connection already known dead. */
const LOST_MESSAGES = new Set(["Connection terminated unexpectedly", "Client has encountered a connection error and is not queryable"])

export function connectionLost(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const { code } = error as { code?: unknown }
  return typeof code === "string" ? LOST_CODES.has(code) : LOST_MESSAGES.has(error.message)
}

/**
 * Runs `operation` on a pool of its own, made from `config`, and ends that pool once it has settled. For the
 * second run of an operation whose connection was lost: the store's pool may still hold connections that died
 * the same way and have yet to say so. `operation` must await everything it starts.
 */
export async function afresh<T>(config: PoolConfig, operation: (db: Pool) => Promise<T>): Promise<T> {
  const fresh = new Pool(config)
  // Lost while idle, its connection needs no report: the pool is ended right after.
  fresh.on("error", () => undefined)
  try {
    return await operation(fresh)
  } finally {
    // Not awaited: a connection the server does not answer ends only when the server answers.
    void fresh.end().catch(() => undefined)
  }
}

/**
 * Runs `operation`, which must be safe to run twice, on `pool`; if its connection was lost under it, runs it once
 * more afresh (see afresh()). A timeout is not retried: the bound on the call would double.
 */
export async function retried<T>(pool: Pool, config: PoolConfig, operation: (db: Pool) => Promise<T>): Promise<T> {
  try {
    return await operation(pool)
  } catch (error) {
    if (!connectionLost(error)) throw error
  }
  return afresh(config, operation)
}
