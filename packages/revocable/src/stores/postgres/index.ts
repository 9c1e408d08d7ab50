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
 * same bound applies to connecting, to waiting for one of the pool's connections, and to the feed's LISTEN and
 * heartbeat. Every statement is short by design: the snapshot is read in pages and the purge deletes in chunks,
 * so that no large table trips the bound.
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
import { Client, DatabaseError, Pool, type ClientBase, type ClientConfig, type PoolClient, type PoolConfig } from "pg"
import { GroupCommit, batchResults, planBatch } from "./batch.ts"
import { Feed, type Decoded } from "./feed.ts"
import { migrate } from "./migrations.ts"
import { afresh, connectionLost, retried } from "./retry.ts"
import { statements } from "./statements.ts"
import { transaction } from "./transaction.ts"
import { decodeCursor, decodeIdCursor, encodeCursor, revocationKey } from "../shared.ts"
import type {
  ChangeEvent,
  Clock,
  CreateSessionInput,
  CreateSessionResult,
  ListRevocationsQuery,
  Page,
  Revocation,
  RevocationInput,
  RevocationKind,
  RevocationQuery,
  RotateInput,
  RotateResult,
  Session,
  Store,
  StoredKey,
} from "../../core/store.ts"
import type { Document, ServerStore } from "../server-store.ts"

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

const SCHEMA = /^[a-z_][a-z0-9_]{0,47}$/
/** At most this many revocations per group-commit transaction. */
const MAX_BATCH = 500
/**
 * SQLSTATE classes of a batch failure that one input or an unlucky interleaving can cause (bad data, a limit
 * such as an index row too large, a deadlock): the batch is then written again one revocation at a time, so
 * that only the culprit fails.
 */
const RETRY_ALONE = new Set(["22", "23", "40", "54"])
/** insufficient_privilege, undefined_function, feature_not_supported: the server will not emit the message. */
const FLUSH_REFUSED = new Set(["42501", "42883", "0A000"])
/** How much longer than the server's own bound the client waits for an answer before giving the connection up. */
const CLIENT_GRACE_MS = 1000
/** Rows per statement of the snapshot and of the purge, each well within the statement bound. */
const PAGE = 10_000

interface RevocationRow {
  kind: RevocationKind
  id: string
  subject: string | null
  reason: string | null
  actor: string | null
  created_at: string
  expires_at: string
  cutoff: string
}

interface SessionRow {
  sid: string
  subject: string
  gen: string
  created_at: string
  last_used_at: string
  expires_at: string
  device: string | null
  claims: string
  revoked_at: string | null
}

interface KeyRow {
  kid: string
  alg: string
  private_jwk: string
  created_at: string
  retired_at: string | null
}

/** What travels over NOTIFY: a revocation (whole, or by kind and id when large), an unrevocation, a key change. */
type Message =
  | { t: "r"; r: Revocation }
  | { t: "r"; k: RevocationKind; i: string }
  | { t: "u"; k: RevocationKind; i: string }
  | { t: "k" }

export function postgresStore(connection: PostgresConnection, options: PostgresStoreOptions = {}): ServerStore {
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

  const s = `"${schema}"`
  const channel = `${schema}_changes`
  const sql = statements(s, channel)

  const feed = new Feed({
    channel,
    heartbeatMs,
    client: () => new Client({ ...clientConfig, keepAlive: true, fallback_application_name: `revocable feed ${schema}` }),
    decode,
  })
  let opening: Promise<void> | undefined
  let closing: Promise<void> | undefined

  function decode(payload: string): Decoded {
    let message: Message | null
    try {
      message = JSON.parse(payload) as Message | null
    } catch {
      return null
    }
    switch (message?.t) {
      case "r":
        return "r" in message ? { type: "revoked", revocation: message.r } : readRevocation(message.k, message.i)
      case "u":
        return { type: "unrevoked", kind: message.k, id: message.i }
      case "k":
        return { type: "keys" }
      default:
        return null
    }
  }

  async function readRevocation(kind: RevocationKind, id: string): Promise<ChangeEvent | null> {
    const { rows } = await pool.query<RevocationRow>(sql.readRevocation, [kind, id])
    // Gone already: unrevoked (that change follows in the feed) or purged.
    return rows[0] ? { type: "revoked", revocation: toRevocation(rows[0]) } : null
  }

  async function record(db: Pool | PoolClient, input: RevocationInput): Promise<Revocation> {
    const statement = input.kind === "subject" ? sql.recordSubject : input.kind === "session" ? sql.recordSession : sql.record
    const values = [input.kind, input.id, input.subject, input.reason, input.actor, input.createdAt, input.expiresAt]
    const { rows } = await db.query<RevocationRow>(statement, values)
    return toRevocation(one(rows))
  }

  /**
   * One group-commit batch: revocations in (kind, id) order, and their NOTIFYs in that order, in one transaction.
   * Other instances hear of it as soon as it commits, which does not wait for the disk (see `unflushed` in
   * statements()); its callers are answered once it is on disk, while the next batch is already being written.
   *
   * Revocations are idempotent, so a batch whose connection was lost, before its commit was confirmed or while
   * waiting for the flush (a crash may have taken the unflushed commit with it), is written whole once more, on
   * a new connection. Subjects then move their generation twice, which cuts off what one revocation would.
   */
  async function recordBatch(inputs: RevocationInput[]): Promise<Array<Revocation | Promise<Revocation>>> {
    const again = () =>
      afresh(poolConfig, async (db) => {
        const results = await commitBatch(db, inputs)
        await flushWal(db)
        return results
      })
    let committed: Array<Revocation | Promise<Revocation>>
    try {
      committed = await commitBatch(pool, inputs)
    } catch (error) {
      if (!connectionLost(error)) throw error
      return again()
    }
    const durable = flushWal(pool).then(
      () => committed,
      (error: unknown) => {
        if (!connectionLost(error)) throw error
        return again()
      },
    )
    flushes.add(durable)
    void durable.finally(() => flushes.delete(durable)).catch(() => undefined)
    return inputs.map((_, index) => durable.then((results) => results[index] as Revocation | Promise<Revocation>))
  }

  async function commitBatch(db: Pool, inputs: RevocationInput[]): Promise<Array<Revocation | Promise<Revocation>>> {
    if (inputs.length === 1) return [await record(db, inputs[0] as RevocationInput)]
    const plan = planBatch(inputs)
    try {
      // Without subjects or sessions the batch is one statement, its own transaction. Otherwise it takes its
      // locks in the store's one order (see statements()): subjects, sessions, revocations, each sorted.
      const rows =
        plan.subjects.size === 0 && plan.sessions.size === 0
          ? await insertRevocations(db, plan.rows, new Map())
          : await transaction(db, async (client) => {
              const cutoffs = new Map<string, number>()
              if (plan.subjects.size > 0) {
                const counts = [[...plan.subjects.keys()], [...plan.subjects.values()]]
                const { rows: gens } = await client.query<{ subject: string; gen: string }>(sql.bumpSubjects, counts)
                for (const row of gens) cutoffs.set(row.subject, Number(row.gen))
              }
              if (plan.sessions.size > 0) await client.query(sql.markSessions, [[...plan.sessions.keys()], [...plan.sessions.values()]])
              return insertRevocations(client, plan.rows, cutoffs)
            })
      return batchResults(inputs, new Map(rows.map((row) => [revocationKey(row.kind, row.id), row])), plan)
    } catch (error) {
      if (!(error instanceof DatabaseError) || !RETRY_ALONE.has(error.code?.slice(0, 2) ?? "")) throw error
      const alone = inputs.map((input) => record(db, input))
      await Promise.allSettled(alone)
      return alone
    }
  }

  /**
   * Resolves once everything committed before the call is on disk (and on synchronous replicas, if any): a
   * transaction that waits for its own flush (`synchronous_commit`, on by default) covers every commit before
   * it, as the WAL is flushed in order. A transaction waits only if it wrote WAL besides its commit record (an
   * xid alone does not): a transactional logical message is the smallest such write, and needs no table
   * (logical decoding, if any, sees an empty message with the prefix "revocable").
   */
  async function flushWal(db: Pool): Promise<void> {
    const statement = flushStatement
    try {
      await db.query(statement)
    } catch (error) {
      if (statement !== sql.flushByMessage || !(error instanceof DatabaseError) || !FLUSH_REFUSED.has(error.code ?? "")) throw error
      // A server that does not let us emit the message (a managed one may revoke it, a compatible one may lack
      // it): an update of a row of the store's own takes its place. Updates of one row wait on each other.
      if (flushStatement === sql.flushByMessage) {
        flushStatement = sql.flushByRow
        process.emitWarning(`PostgreSQL refused pg_logical_emit_message (${error.message}): revocations flush by updating a row instead.`, {
          code: "REVOCABLE_POSTGRES_FLUSH",
        })
      }
      await db.query(sql.flushByRow)
    }
  }

  async function insertRevocations(
    db: Pool | PoolClient,
    rows: RevocationInput[],
    cutoffs: Map<string, number>,
    statement = sql.recordMany,
  ): Promise<Revocation[]> {
    const { rows: inserted } = await db.query<RevocationRow>(statement, [
      rows.map((row) => row.kind),
      rows.map((row) => row.id),
      rows.map((row) => row.subject),
      rows.map((row) => row.reason),
      rows.map((row) => row.actor),
      rows.map((row) => row.createdAt),
      rows.map((row) => row.expiresAt),
      rows.map((row) => (row.kind === "subject" ? (cutoffs.get(row.id) ?? 0) : 0)),
    ])
    return inserted.map(toRevocation)
  }

  let flushStatement = sql.flushByMessage
  const revocationBatches = new GroupCommit(recordBatch, MAX_BATCH)
  /** Flushes in flight, each answering a committed batch's callers: close waits for them. */
  const flushes = new Set<Promise<unknown>>()
  /** Reads, and writes that may safely run twice, run once more on a new connection if theirs was lost. */
  const safely = <T>(operation: (db: Pool) => Promise<T>) => retried(pool, poolConfig, operation)

  return {
    name: "postgres",
    heartbeatMs,

    open() {
      if (closing) return Promise.reject(new Error("The store is closed."))
      opening ??= migrate(pool, schema).catch((error: unknown) => {
        opening = undefined
        throw error
      })
      return opening
    },

    close() {
      closing ??= (async () => {
        await opening?.catch(() => undefined)
        await revocationBatches.idle()
        await Promise.allSettled(flushes)
        await feed.close()
        if (given) pool.off("error", onIdleError)
        else await pool.end()
      })()
      return closing
    },

    revoke(input) {
      return revocationBatches.push(input)
    },

    // Not retried, nor is deleteDocument: run twice, either would answer false for what its first run removed.
    async unrevoke(kind, id) {
      if (kind !== "session") return (await pool.query(sql.unrevoke, [kind, id])).rowCount === 1
      // The session's row first, as revoking takes it. Once it is ours, the next statement's snapshot holds any
      // revocation committed while we waited: in one statement the delete could miss it and leave them apart.
      return transaction(pool, async (client) => {
        await client.query(sql.lockSession, [id])
        return (await client.query(sql.unrevokeSession, [id])).rowCount === 1
      })
    },

    async isRevoked(query: RevocationQuery) {
      const values = [query.jti, query.sid, query.subject, query.gen, query.kid, query.now]
      const { rows } = await safely((db) => db.query<{ revoked: boolean }>(sql.isRevoked, values))
      return one(rows).revoked
    },

    snapshot(now) {
      // Pages in one repeatable-read transaction: as consistent as one statement, each page short.
      const pages = async (client: PoolClient) => {
        const all: Revocation[] = []
        for (let after = 0; ; ) {
          const { rows } = await client.query<RevocationRow & { seq: string }>(sql.snapshot, [now, after, PAGE])
          for (const row of rows) all.push(toRevocation(row))
          const last = rows.at(-1)
          if (rows.length < PAGE || last === undefined) return all
          after = Number(last.seq)
        }
      }
      return safely((db) => transaction(db, pages, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    },

    async listRevocations(query: ListRevocationsQuery): Promise<Page<Revocation>> {
      const values = [query.now, query.kind ?? null, query.subject ?? null, decodeCursor(query.cursor), query.limit + 1]
      const { rows } = await safely((db) => db.query<RevocationRow & { seq: string }>(sql.listRevocations, values))
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return { items: page.map(toRevocation), next: rows.length > query.limit && last ? encodeCursor(Number(last.seq)) : null }
    },

    async createSession(input: CreateSessionInput): Promise<CreateSessionResult> {
      const { session, limit } = input
      return transaction(pool, async (client) => {
        // Locks the subject's row for the transaction: sessions of one subject are created, counted and evicted
        // one at a time, and a subject revocation (which updates the row) waits or is waited for. The store's
        // now is read then, once: the session is counted, evicted and created at it.
        const { rows: locked } = await client.query<{ gen: string; now: string }>(sql.lockSubject, [session.subject, clock?.() ?? null])
        const { gen, now } = one(locked)
        let evicted: Revocation[] = []
        if (limit !== null) {
          const values = [session.subject, now, input.idleTimeoutMs]
          const { rows: live } = await client.query<{ sid: string; expires_at: string }>(sql.liveSessions, values)
          const excess = live.length + 1 - limit
          if (excess > 0 && input.onExceed === "reject") return { ok: false, reason: "limit" }
          const oldest = live.slice(0, Math.max(0, excess)).map((row) => ({
            ...input.evictTemplate,
            id: row.sid,
            subject: session.subject,
            expiresAt: Number(row.expires_at) + input.leewayMs,
          }))
          if (oldest.length > 0) {
            // Oldest first is not key order: as a batch does, lock the sessions, then write their revocations, each
            // statement in key order (see statements()).
            await client.query(sql.markSessions, [oldest.map((row) => row.id), oldest.map((row) => row.createdAt)])
            // Written as any other write is, waiting for the disk: createSession is answered at its commit.
            const written = new Map((await insertRevocations(client, oldest, new Map(), sql.recordEvictions)).map((row) => [row.id, row]))
            // Every input comes back: the insert updates on conflict.
            evicted = oldest.map((row) => written.get(row.id) as Revocation)
          }
        }
        // The new session's row is this transaction's own: no one else can be waiting for it.
        const { rows } = await client.query<SessionRow>(sql.insertSession, [
          session.sid,
          session.subject,
          gen,
          now,
          session.ttlMs,
          session.device,
          JSON.stringify(session.claims),
          session.refreshHash,
        ])
        return { ok: true, session: toSession(one(rows)), evicted }
      })
    },

    async getSession(sid) {
      const { rows } = await safely((db) => db.query<SessionRow>(sql.getSession, [sid]))
      return rows[0] ? toSession(rows[0]) : null
    },

    async listSessions(subject, idleTimeoutMs) {
      const values = [subject, clock?.() ?? null, idleTimeoutMs]
      const { rows } = await safely((db) => db.query<SessionRow>(sql.listSessions, values))
      return rows.map(toSession)
    },

    async rotate(input: RotateInput): Promise<RotateResult> {
      const { sid, presentedHash, nextHash, idleTimeoutMs, graceMs } = input
      // Null: each statement reads the server's clock itself (see storeNow).
      const now = clock?.() ?? null
      for (let attempt = 1; ; attempt++) {
        const rotated = await pool.query<SessionRow>(sql.rotate, [sid, presentedHash, nextHash, now, idleTimeoutMs])
        if (rotated.rows[0]) return { status: "rotated", session: toSession(rotated.rows[0]) }
        // Not the current token. Each branch below is one conditional statement re-checked under the row lock,
        // and a token that is not current never becomes current again, so no branch can race another.
        if (graceMs > 0) {
          const grace = await pool.query<SessionRow>(sql.grace, [sid, presentedHash, nextHash, now, idleTimeoutMs, graceMs])
          if (grace.rows[0]) return { status: "grace", session: toSession(grace.rows[0]) }
        }
        const reuse = input.reuseRevocation
        const reused = await pool.query<RevocationRow>(sql.reuse, [
          sid,
          presentedHash,
          now,
          idleTimeoutMs,
          graceMs,
          reuse.kind,
          reuse.id,
          reuse.subject,
          reuse.reason,
          reuse.actor,
          reuse.createdAt,
          reuse.expiresAt,
        ])
        if (reused.rows[0]) return { status: "reused", revocation: toRevocation(reused.rows[0]) }
        const { rows } = await pool.query<{ revoked_at: string | null; live: boolean }>(sql.sessionState, [sid, now, idleTimeoutMs])
        if (!rows[0]) return { status: "missing" }
        if (rows[0].revoked_at !== null) return { status: "revoked" }
        // Live, yet neither rotated nor reused: unrevoked since the first statement, when it was revoked. Once
        // more settles it; were it revoked and unrevoked again meanwhile, it counts as revoked.
        if (!rows[0].live) return { status: "expired" }
        if (attempt === 2) return { status: "revoked" }
      }
    },

    async listKeys() {
      const { rows } = await safely((db) => db.query<KeyRow>(sql.listKeys))
      return rows.map(toKey)
    },
    async saveKey(key: StoredKey) {
      await safely((db) => db.query(sql.saveKey, [key.kid, key.alg, key.privateJwk, key.createdAt, key.retiredAt]))
    },
    async retireKey(kid, at) {
      await safely((db) => db.query(sql.retireKey, [kid, at]))
    },
    async deleteKey(kid) {
      await safely((db) => db.query(sql.deleteKey, [kid]))
    },

    subscribe(listener) {
      return feed.subscribe(listener)
    },

    async purge(now) {
      let removed = 0
      for (const statement of [sql.purgeSessions, sql.purgeRevocations, sql.purgeWindows]) {
        let count: number
        do {
          count = (await pool.query(statement, [now, PAGE])).rowCount ?? 0
          removed += count
        } while (count === PAGE)
      }
      return removed
    },

    async getDocument(collection, id) {
      const { rows } = await safely((db) => db.query<{ json: string }>(sql.getDocument, [collection, id]))
      return rows[0]?.json ?? null
    },
    async putDocument(collection, id, json, expected) {
      const statement = expected === undefined ? sql.putDocument : expected === null ? sql.createDocument : sql.replaceDocument
      const values = expected === undefined || expected === null ? [collection, id, json] : [collection, id, json, expected]
      const write = (db: Pool) => db.query(statement, values)
      const { rowCount } = await (expected === undefined ? safely(write) : write(pool))
      return rowCount === 1
    },
    async deleteDocument(collection, id) {
      const { rowCount } = await pool.query(sql.deleteDocument, [collection, id])
      return rowCount === 1
    },
    async listDocuments(collection, query): Promise<Page<Document>> {
      const after = decodeIdCursor(query.cursor)
      const { rows } = await safely((db) => db.query<Document>(sql.listDocuments, [collection, after, query.limit + 1]))
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return { items: page, next: rows.length > query.limit && last ? encodeCursor(last.id) : null }
    },
    async hit(key, windowMs, now) {
      const { rows } = await pool.query<{ count: number; reset_at: string }>(sql.hit, [key, now, windowMs])
      const row = one(rows)
      return { count: row.count, resetAt: Number(row.reset_at) }
    },
  }
}

function one<T>(rows: T[]): T {
  const row = rows[0]
  if (row === undefined) throw new Error("PostgreSQL returned no row where one was expected.")
  return row
}

function toRevocation(row: RevocationRow): Revocation {
  return {
    kind: row.kind,
    id: row.id,
    subject: row.subject,
    reason: row.reason,
    actor: row.actor,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    cutoff: Number(row.cutoff),
  }
}

function toSession(row: SessionRow): Session {
  return {
    sid: row.sid,
    subject: row.subject,
    gen: Number(row.gen),
    createdAt: Number(row.created_at),
    lastUsedAt: Number(row.last_used_at),
    expiresAt: Number(row.expires_at),
    device: row.device,
    claims: JSON.parse(row.claims) as Record<string, unknown>,
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  }
}

function toKey(row: KeyRow): StoredKey {
  return {
    kid: row.kid,
    alg: row.alg,
    privateJwk: row.private_jwk,
    createdAt: Number(row.created_at),
    retiredAt: row.retired_at === null ? null : Number(row.retired_at),
  }
}
