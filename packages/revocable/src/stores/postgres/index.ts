/**
 * The PostgreSQL store, for several instances of an application sharing one database (`pg`, an optional peer
 * dependency: install it yourself).
 *
 * Every write is one transaction, durable once acknowledged (keep `synchronous_commit` on). Revocations made
 * while another is being written wait for it, then are written together in one transaction (group commit), so
 * that a burst costs a few transactions rather than one each. A revocation reaches other instances as soon as
 * it commits, before the server has flushed it to disk, and its call resolves once it is flushed (`unflushed`
 * in statements()): propagation does not wait for the disk, and no acknowledged write is lost. (The flush is
 * waited for with `pg_logical_emit_message`; a server that refuses it gets an update of a row of the store's
 * instead, and a warning, code `REVOCABLE_POSTGRES_FLUSH`.) Refresh rotation is one conditional
 * `UPDATE … RETURNING`, atomic across instances. Changes reach every instance through LISTEN/NOTIFY on a
 * dedicated connection, with a heartbeat, and a reconnect that makes subscribers reload their snapshot. The
 * schema (default `revocable`) is created and migrated on open.
 *
 * No call waits forever. The store's own pool sets `statement_timeout` and `lock_timeout` (`statementTimeoutMs`,
 * default 5 s) on each connection as it opens, with a `SET` (PgBouncer refuses them as startup parameters): a
 * statement stuck behind a lock held elsewhere, or on a server too slow, is cancelled by the server, which frees
 * the connection and the locks, and the call rejects (in `createAuth`, `store_unavailable`). A client-side
 * `query_timeout` a second later covers a server that does not answer at all (stopped, or partitioned away); the
 * same bound applies to connecting, to waiting for one of the pool's connections, and to the feed's LISTEN. The
 * feed's heartbeat has its own bound, max(4 × heartbeatMs, 5 s), judged only once the answers that arrived have
 * been read: a process paused past it (GC, SIGSTOP) keeps a connection whose answer is waiting, where a timer
 * alone would drop it and make every subscriber reload its snapshot. Every statement is short by design: the
 * snapshot is read in pages and the purge deletes in chunks, so that no large table trips the bound.
 *
 * A call whose connection is lost under it (the server restarted, its backend was terminated, the connection was
 * reset) runs once more, on a new connection, where running it twice is safe: revocations, which are idempotent,
 * key writes, unconditional document writes, and reads. Other calls reject. A timeout is never retried.
 *
 * Session times (creation, last use, expiry, the rotation grace) are read from the server's clock inside the
 * statements that compare them (`clock_timestamp()`), so that instances whose clocks differ agree.
 *
 * Given a pool of your own, the store never ends it and sets nothing on it: bound it yourself, e.g. with pg's
 * `statement_timeout`, `lock_timeout`, `query_timeout` and `connectionTimeoutMillis` options. Attach an `'error'`
 * listener to it too, as to any pool: pg emits one when a connection dies while idle, and with no listener Node
 * ends the process. While the store is open it keeps a listener of its own on the pool, so that the process
 * lives on; that listener reports the loss as a warning (`process.emitWarning`, code `REVOCABLE_POSTGRES_POOL`)
 * unless the pool has another listener.
 *
 * @example
 * import { createAuth } from "revocable"
 * import { postgresStore } from "revocable/stores/postgres"
 * const store = postgresStore({ connectionString: process.env.DATABASE_URL }, { schema: "auth" })
 * const auth = createAuth({ issuer: "https://auth.example", audience: "api", store })
 */
import { Client } from "pg"
import { postgresAudit } from "./audit.ts"
import { decodeMessage } from "./codec.ts"
import { database, PAGE, type Context } from "./connection.ts"
import { documents } from "./documents.ts"
import { Feed } from "./feed.ts"
import { migrate } from "./migrations.ts"
import { readRevocation, revocations } from "./revocations.ts"
import { sessions } from "./sessions.ts"
import { settings, type PostgresConnection, type PostgresStoreOptions } from "./settings.ts"
import { signingKeys } from "./signing.ts"
import { statements } from "./statements.ts"
import type { ServerStore } from "../server-store.ts"

export type { PostgresConnection, PostgresStoreOptions } from "./settings.ts"

export function postgresStore(connection: PostgresConnection, options: PostgresStoreOptions = {}): ServerStore {
  const checked = settings(connection, options)
  const { schema, heartbeatMs } = checked
  const db = database(checked)
  const channel = `${schema}_changes`
  const sql = statements(`"${schema}"`, channel)
  const context: Context = { ...db, sql, clock: checked.clock }

  const feed = new Feed({
    channel,
    heartbeatMs,
    client: () => new Client({ ...db.clientConfig, query_timeout: undefined, keepAlive: true, fallback_application_name: `revocable feed ${schema}` }),
    listenTimeoutMs: db.clientConfig.query_timeout,
    decode: (payload) => decodeMessage(payload, (kind, id) => readRevocation(context, kind, id)),
  })
  const { settled, ...revocationMethods } = revocations(context)
  let opening: Promise<void> | undefined
  let closing: Promise<void> | undefined

  return {
    name: "postgres",
    heartbeatMs,

    open() {
      if (closing) return Promise.reject(new Error("The store is closed."))
      opening ??= migrate(db.pool, schema).catch((error: unknown) => {
        opening = undefined
        throw error
      })
      return opening
    },

    close() {
      closing ??= (async () => {
        await opening?.catch(() => undefined)
        await settled()
        await feed.close()
        await db.release()
      })()
      return closing
    },

    ...revocationMethods,
    ...sessions(context),
    ...signingKeys(context),

    subscribe(listener) {
      return feed.subscribe(listener)
    },

    async purge(now) {
      let removed = 0
      for (const statement of [sql.purgeSessions, sql.purgeRevocations, sql.purgeWindows]) {
        let count: number
        do {
          count = (await db.pool.query(statement, [now, PAGE])).rowCount ?? 0
          removed += count
        } while (count === PAGE)
      }
      return removed
    },

    ...documents(context),
    ...postgresAudit(context, `"${schema}"`),
  }
}
