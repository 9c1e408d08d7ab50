// One transaction on a pooled connection, rolled back on any error.
import { DatabaseError, type Pool, type PoolClient } from "pg"

export async function transaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>, begin = "BEGIN"): Promise<T> {
  const client = await pool.connect()
  // A checked-out client has no 'error' listener of the pool's: without one a connection lost between two
  // queries would crash the process. The query in flight rejects on its own.
  let broken: Error | undefined
  const onError = (error: Error) => {
    broken = error
  }
  client.on("error", onError)
  try {
    await client.query(begin)
    const result = await work(client)
    await client.query("COMMIT")
    return result
  } catch (error) {
    if (error instanceof DatabaseError) {
      await client.query("ROLLBACK").catch((rollbackError: Error) => {
        broken ??= rollbackError
      })
    } else {
      // Not the server's answer: the connection may be lost, or still busy with a statement the client gave up
      // waiting for, and a ROLLBACK would queue behind it. Discarding it ends the transaction on the server.
      broken ??= error instanceof Error ? error : new Error(String(error))
    }
    throw error
  } finally {
    client.off("error", onError)
    // Passing an error makes the pool discard the connection instead of reusing it.
    client.release(broken)
  }
}
