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
 * `query_timeout` a second later covers a server that does not answer at all. Every statement is short by
 * design: the snapshot is read in pages and the purge deletes in chunks, so that no large table trips the bound.
 *
 * Given a pool of your own, the store never ends it and sets nothing on it: bound it yourself, e.g. with pg's
 * `statement_timeout`, `lock_timeout` and `query_timeout` options. Attach an `'error'` listener to it too, as to
 * any pool: pg emits one when a connection dies while idle, and with no listener Node ends the process. While
 * the store is open it keeps a listener of its own on the pool, so that the process lives on; that listener
 * reports the loss as a warning (`process.emitWarning`, code `REVOCABLE_POSTGRES_POOL`) unless the pool has
 * another listener.
 *
 * @example
 * import { createAuth } from "revocable"
 * import { postgresStore } from "revocable/stores/postgres"
 * const store = postgresStore({ connectionString: process.env.DATABASE_URL }, { schema: "auth" })
 * const auth = createAuth({ issuer: "https://auth.example", audience: "api", store })
 */
import { Client, DatabaseError, Pool, type ClientBase, type ClientConfig, type PoolClient } from "pg"
import { GroupCommit, batchResults, planBatch } from "./postgres/batch.ts"
import { Feed, type Decoded } from "./postgres/feed.ts"
import { migrate } from "./postgres/migrations.ts"
import { transaction } from "./postgres/transaction.ts"
import { decodeCursor, decodeIdCursor, encodeCursor, revocationKey } from "./shared.ts"
import type {
  ChangeEvent,
  CreateSessionInput,
  CreateSessionResult,
  Document,
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
} from "./contract.ts"

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
   * Bound, in milliseconds, on each statement and each lock wait of the connections the store makes (0: none).
   * Not for a pool of your own, which keeps the settings you gave it. Default 5000.
   */
  statementTimeoutMs?: number
}

const SCHEMA = /^[a-z_][a-z0-9_]{0,47}$/
/** NOTIFY payloads must stay under 8000 bytes; a larger revocation is announced by kind and id, then read. */
const MAX_PAYLOAD = 7900
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

const REVOCATION_COLUMNS = "kind, id, subject, reason, actor, created_at, expires_at, cutoff"
const SESSION_COLUMNS = "sid, subject, gen, created_at, last_used_at, expires_at, device, claims, revoked_at"

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

export function postgresStore(connection: PostgresConnection, options: PostgresStoreOptions = {}): Store {
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
    throw new TypeError("Option statementTimeoutMs is for the store's own pool: set statement_timeout, lock_timeout and query_timeout on yours.")
  }
  const statementTimeoutMs = options.statementTimeoutMs ?? 5000
  if (!Number.isSafeInteger(statementTimeoutMs) || statementTimeoutMs < 0 || statementTimeoutMs > 3_600_000) {
    throw new TypeError("Option statementTimeoutMs must be an integer from 0 to 3600000.")
  }

  const clientConfig: ClientConfig = given ? { ...given.options } : { connectionString, connectionTimeoutMillis: 10_000 }
  const bounded = given === undefined && statementTimeoutMs > 0
  const pool =
    given ??
    new Pool({
      ...clientConfig,
      keepAlive: true,
      ...(bounded
        ? {
            query_timeout: statementTimeoutMs + CLIENT_GRACE_MS,
            // Before the connection serves its first query (pg >= 8.20). One that cannot take the bounds is
            // closed rather than used unbounded, and the query waiting on it fails.
            onConnect: async (client: ClientBase) => {
              await client.query(`SET statement_timeout = ${statementTimeoutMs}; SET lock_timeout = ${statementTimeoutMs}`)
            },
          }
        : {}),
    })
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
   */
  async function recordBatch(inputs: RevocationInput[]): Promise<Array<Revocation | Promise<Revocation>>> {
    const committed = await commitBatch(inputs)
    const durable = flushWal()
    flushes.add(durable)
    void durable.finally(() => flushes.delete(durable)).catch(() => undefined)
    return committed.map((result) => durable.then(() => result))
  }

  async function commitBatch(inputs: RevocationInput[]): Promise<Array<Revocation | Promise<Revocation>>> {
    if (inputs.length === 1) return [await record(pool, inputs[0] as RevocationInput)]
    const plan = planBatch(inputs)
    try {
      // Without subjects or sessions the batch is one statement, its own transaction. Otherwise it takes its
      // locks in the store's one order (see statements()): subjects, sessions, revocations, each sorted.
      const rows =
        plan.subjects.size === 0 && plan.sessions.size === 0
          ? await insertRevocations(pool, plan.rows, new Map())
          : await transaction(pool, async (client) => {
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
      const alone = inputs.map((input) => record(pool, input))
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
  async function flushWal(): Promise<void> {
    const statement = flushStatement
    try {
      await pool.query(statement)
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
      await pool.query(sql.flushByRow)
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
  const flushes = new Set<Promise<void>>()

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
      const { rows } = await pool.query<{ revoked: boolean }>(sql.isRevoked, [query.jti, query.sid, query.subject, query.gen, query.kid, query.now])
      return one(rows).revoked
    },

    snapshot(now) {
      // Pages in one repeatable-read transaction: as consistent as one statement, each page short.
      return transaction(
        pool,
        async (client) => {
          const all: Revocation[] = []
          for (let after = 0; ; ) {
            const { rows } = await client.query<RevocationRow & { seq: string }>(sql.snapshot, [now, after, PAGE])
            for (const row of rows) all.push(toRevocation(row))
            const last = rows.at(-1)
            if (rows.length < PAGE || last === undefined) return all
            after = Number(last.seq)
          }
        },
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
      )
    },

    async listRevocations(query: ListRevocationsQuery): Promise<Page<Revocation>> {
      const before = decodeCursor(query.cursor)
      const { rows } = await pool.query<RevocationRow & { seq: string }>(sql.listRevocations, [
        query.now,
        query.kind ?? null,
        query.subject ?? null,
        before,
        query.limit + 1,
      ])
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return { items: page.map(toRevocation), next: rows.length > query.limit && last ? encodeCursor(Number(last.seq)) : null }
    },

    async createSession(input: CreateSessionInput): Promise<CreateSessionResult> {
      const { session, limit } = input
      const now = session.createdAt
      return transaction(pool, async (client) => {
        // Locks the subject's row for the transaction: sessions of one subject are created, counted and evicted
        // one at a time, and a subject revocation (which updates the row) waits or is waited for.
        const { rows: subject } = await client.query<{ gen: string }>(sql.lockSubject, [session.subject])
        let evicted: Revocation[] = []
        if (limit !== null) {
          const { rows: live } = await client.query<{ sid: string; expires_at: string }>(sql.liveSessions, [session.subject, now, input.idleSince])
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
          one(subject).gen,
          now,
          session.expiresAt,
          session.device,
          JSON.stringify(session.claims),
          session.refreshHash,
        ])
        return { ok: true, session: toSession(one(rows)), evicted }
      })
    },

    async getSession(sid) {
      const { rows } = await pool.query<SessionRow>(sql.getSession, [sid])
      return rows[0] ? toSession(rows[0]) : null
    },

    async listSessions(subject, now, idleSince) {
      const { rows } = await pool.query<SessionRow>(sql.listSessions, [subject, now, idleSince])
      return rows.map(toSession)
    },

    async rotate(input: RotateInput): Promise<RotateResult> {
      const { sid, presentedHash, nextHash, now, idleSince, graceMs } = input
      for (let attempt = 1; ; attempt++) {
        const rotated = await pool.query<SessionRow>(sql.rotate, [sid, presentedHash, nextHash, now, idleSince])
        if (rotated.rows[0]) return { status: "rotated", session: toSession(rotated.rows[0]) }
        // Not the current token. Each branch below is one conditional statement re-checked under the row lock,
        // and a token that is not current never becomes current again, so no branch can race another.
        if (graceMs > 0) {
          const grace = await pool.query<SessionRow>(sql.grace, [sid, presentedHash, nextHash, now, idleSince, graceMs])
          if (grace.rows[0]) return { status: "grace", session: toSession(grace.rows[0]) }
        }
        const reuse = input.reuseRevocation
        const reused = await pool.query<RevocationRow>(sql.reuse, [
          sid,
          presentedHash,
          now,
          idleSince,
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
        const { rows } = await pool.query<{ revoked_at: string | null; live: boolean }>(sql.sessionState, [sid, now, idleSince])
        if (!rows[0]) return { status: "missing" }
        if (rows[0].revoked_at !== null) return { status: "revoked" }
        // Live, yet neither rotated nor reused: unrevoked since the first statement, when it was revoked. Once
        // more settles it; were it revoked and unrevoked again meanwhile, it counts as revoked.
        if (!rows[0].live) return { status: "expired" }
        if (attempt === 2) return { status: "revoked" }
      }
    },

    async listKeys() {
      const { rows } = await pool.query<KeyRow>(sql.listKeys)
      return rows.map(toKey)
    },
    async saveKey(key: StoredKey) {
      await pool.query(sql.saveKey, [key.kid, key.alg, key.privateJwk, key.createdAt, key.retiredAt])
    },
    async retireKey(kid, at) {
      await pool.query(sql.retireKey, [kid, at])
    },
    async deleteKey(kid) {
      await pool.query(sql.deleteKey, [kid])
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
      const { rows } = await pool.query<{ json: string }>(sql.getDocument, [collection, id])
      return rows[0]?.json ?? null
    },
    async putDocument(collection, id, json, expected) {
      const statement = expected === undefined ? sql.putDocument : expected === null ? sql.createDocument : sql.replaceDocument
      const values = expected === undefined || expected === null ? [collection, id, json] : [collection, id, json, expected]
      const { rowCount } = await pool.query(statement, values)
      return rowCount === 1
    },
    async deleteDocument(collection, id) {
      const { rowCount } = await pool.query(sql.deleteDocument, [collection, id])
      return rowCount === 1
    },
    async listDocuments(collection, query): Promise<Page<Document>> {
      const after = decodeIdCursor(query.cursor)
      const { rows } = await pool.query<Document>(sql.listDocuments, [collection, after, query.limit + 1])
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

/**
 * The store's SQL.
 *
 * Lock order. Whatever locks rows of more than one table, or more than one row of a table, locks subjects
 * first, then sessions, then revocations, and the rows of one table in key order. No two writers can then each
 * hold a row the other waits for, so none is ever aborted as a deadlock (40P01):
 * - rotate, grace: one session. reuse: the session, then its revocation (the insert reads the update's rows).
 * - record: one revocation. recordSession: the session, then its revocation, as reuse. recordSubject: the
 *   subject, then its revocation. recordMany: revocations, sorted.
 * - A group-commit batch: bumpSubjects, markSessions, recordMany, each sorted, in that order.
 * - createSession: the subject (lockSubject), then the evicted sessions and their revocations as a batch does,
 *   then the new session, which no one else can see, let alone wait for, before it commits.
 * - unrevoke of a session: the session (lockSession, a statement of its own), then the revocation.
 * - Purge never waits (SKIP LOCKED). Keys, documents and windows: one row of a table nothing else locks.
 * Each data-modifying WITH that is not read by the rest of its statement runs last, whatever its place: so
 * where a revocation must wait for a session, its insert reads the session update's rows.
 */
function statements(s: string, channel: string) {
  /**
   * A revocation's transaction commits without waiting for its WAL to be flushed (`synchronous_commit` off for
   * that transaction alone, set from within its statement): its rows are visible and its NOTIFYs delivered at
   * once, and the NOTIFY queue, shared by the whole database, is not held up behind the flush either. Its callers
   * are answered only after flushWal, so that nothing acknowledged is lost; a server crash in between loses a
   * revocation no caller was told of, which the instances that heard of it drop when their feed resets.
   */
  const unflushed = "CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed"
  /** Selects the revocation a CTE `r` wrote, and announces it in the same statement (sent on commit). */
  const announce = (commit: "flushed" | "unflushed") => `
    SELECT r.*, pg_notify('${channel}', CASE WHEN octet_length(p.body) <= ${MAX_PAYLOAD} THEN p.body
      ELSE json_build_object('t', 'r', 'k', r.kind, 'i', r.id)::text END)
    FROM r CROSS JOIN LATERAL (SELECT json_build_object('t', 'r', 'r', json_build_object('kind', r.kind, 'id', r.id,
      'subject', r.subject, 'reason', r.reason, 'actor', r.actor, 'createdAt', r.created_at, 'expiresAt', r.expires_at,
      'cutoff', r.cutoff))::text AS body) AS p ${commit === "unflushed" ? unflushed : ""}`
  /** A batch of revocations, one per kind and id, written and announced in (kind, id) order. */
  const recordMany = (commit: "flushed" | "unflushed") => `
      WITH r AS (
        INSERT INTO ${s}.revocations AS old (kind, id, subject, reason, actor, created_at, expires_at, cutoff)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[])
          AS t(kind, id, subject, reason, actor, created_at, expires_at, cutoff)
        ORDER BY kind, id COLLATE "C"
        ON CONFLICT (kind, id) DO UPDATE SET ${["subject", "reason", "actor", "created_at", "cutoff"].map(latestForSubject).join(", ")},
          expires_at = GREATEST(old.expires_at, excluded.expires_at)
        RETURNING ${REVOCATION_COLUMNS}
      ) ${announce(commit)}
      ORDER BY r.kind, r.id`
  /** Idempotent insert of a token, session or key revocation: the first record stands, the latest expiry wins. */
  const insertRevocation = (source: string) => `
    r AS (
      INSERT INTO ${s}.revocations AS old (kind, id, subject, reason, actor, created_at, expires_at, cutoff)
      ${source}
      ON CONFLICT (kind, id) DO UPDATE SET expires_at = GREATEST(old.expires_at, excluded.expires_at)
      RETURNING ${REVOCATION_COLUMNS}
    )`
  const values = "VALUES ($1, $2, $3, $4, $5, $6, $7, 0)"
  /** A subject revoked again takes the new call's details and cut-off; other kinds keep their first record. */
  const latestForSubject = (column: string) => `${column} = CASE WHEN old.kind = 'subject' THEN excluded.${column} ELSE old.${column} END`
  const live = "revoked_at IS NULL AND expires_at > $4 AND last_used_at > $5"
  /** A subject's live sessions ($1 subject, $2 now, $3 idleSince): also not cut off by a live subject revocation. */
  const subjectLive = `
      x.subject = $1 AND x.revoked_at IS NULL AND x.expires_at > $2 AND x.last_used_at > $3
      AND NOT EXISTS (SELECT 1 FROM ${s}.revocations AS cut
        WHERE cut.kind = 'subject' AND cut.id = x.subject AND cut.expires_at > $2 AND cut.cutoff > x.gen)`
  /** Announces the revocations a CTE `d` deleted. */
  const announceUnrevoked = `SELECT pg_notify('${channel}', json_build_object('t', 'u', 'k', kind, 'i', id)::text) FROM d`
  const announceKeys = `SELECT pg_notify('${channel}', '{"t":"k"}')`
  const purgeChunk = (table: string, column: string) => `
    DELETE FROM ${s}.${table} WHERE ctid = ANY (ARRAY(
      SELECT ctid FROM ${s}.${table} WHERE ${column} <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`

  return {
    record: `WITH ${insertRevocation(values)} ${announce("unflushed")}`,
    // The insert reads a count of the update's rows, so that the session is locked before the revocation; it is
    // locked even when revoked already, as markSessions does.
    recordSession: `
      WITH marked AS (UPDATE ${s}.sessions SET revoked_at = COALESCE(revoked_at, $6) WHERE sid = $2 RETURNING sid),
      ${insertRevocation("SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::bigint, 0 FROM (SELECT count(*) FROM marked) AS done")}
      ${announce("unflushed")}`,
    // The generation moves under the subject row's lock, which createSession takes too.
    recordSubject: `
      WITH g AS (
        INSERT INTO ${s}.subjects AS old (subject, gen) VALUES ($2, 1)
        ON CONFLICT (subject) DO UPDATE SET gen = old.gen + 1
        RETURNING gen
      ), r AS (
        INSERT INTO ${s}.revocations AS old (kind, id, subject, reason, actor, created_at, expires_at, cutoff)
        SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::bigint, g.gen FROM g
        ON CONFLICT (kind, id) DO UPDATE SET subject = excluded.subject, reason = excluded.reason, actor = excluded.actor,
          created_at = excluded.created_at, cutoff = excluded.cutoff, expires_at = GREATEST(old.expires_at, excluded.expires_at)
        RETURNING ${REVOCATION_COLUMNS}
      ) ${announce("unflushed")}`,
    recordMany: recordMany("unflushed"),
    /** The sessions a login evicts: part of the login's transaction, which is answered at its commit. */
    recordEvictions: recordMany("flushed"),
    /** Moves each subject's generation by its count, in subject order; the new generation is the cut-off. */
    bumpSubjects: `
      INSERT INTO ${s}.subjects AS old (subject, gen)
      SELECT subject, n FROM unnest($1::text[], $2::bigint[]) AS t(subject, n) ORDER BY subject COLLATE "C"
      ON CONFLICT (subject) DO UPDATE SET gen = old.gen + excluded.gen
      RETURNING subject, gen`,
    /**
     * Marks sessions revoked, locking them in sid order first: each of them, revoked already or not, so that an
     * unrevoke of one (which takes the row too) comes wholly before or wholly after this revocation.
     */
    markSessions: `
      UPDATE ${s}.sessions AS target SET revoked_at = COALESCE(target.revoked_at, locked.at)
      FROM (
        SELECT x.sid, input.at FROM ${s}.sessions AS x JOIN unnest($1::text[], $2::bigint[]) AS input(sid, at) ON x.sid = input.sid
        ORDER BY x.sid FOR UPDATE OF x
      ) AS locked
      WHERE target.sid = locked.sid`,
    readRevocation: `SELECT ${REVOCATION_COLUMNS} FROM ${s}.revocations WHERE kind = $1 AND id = $2`,
    /** Any kind but a session (see unrevokeSession). */
    unrevoke: `
      WITH d AS (DELETE FROM ${s}.revocations WHERE kind = $1 AND id = $2 RETURNING kind, id) ${announceUnrevoked}`,
    lockSession: `SELECT 1 FROM ${s}.sessions WHERE sid = $1 FOR UPDATE`,
    /** After lockSession: an unrevoked session's refresh token works again. */
    unrevokeSession: `
      WITH cleared AS (UPDATE ${s}.sessions SET revoked_at = NULL WHERE sid = $1),
      d AS (DELETE FROM ${s}.revocations WHERE kind = 'session' AND id = $1 RETURNING kind, id) ${announceUnrevoked}`,
    isRevoked: `
      SELECT EXISTS (SELECT 1 FROM ${s}.revocations WHERE expires_at > $6 AND (
        (kind = 'token' AND id = $1) OR (kind = 'session' AND id = $2) OR
        (kind = 'subject' AND id = $3 AND cutoff > $4) OR (kind = 'key' AND id = $5))) AS revoked`,
    snapshot: `SELECT ${REVOCATION_COLUMNS}, seq FROM ${s}.revocations WHERE expires_at > $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    listRevocations: `
      SELECT ${REVOCATION_COLUMNS}, seq FROM ${s}.revocations
      WHERE expires_at > $1 AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR subject = $3)
        AND ($4::bigint IS NULL OR seq < $4)
      ORDER BY seq DESC LIMIT $5`,

    lockSubject: `
      INSERT INTO ${s}.subjects AS old (subject, gen) VALUES ($1, 0)
      ON CONFLICT (subject) DO UPDATE SET gen = old.gen RETURNING gen`,
    liveSessions: `
      SELECT sid, expires_at FROM ${s}.sessions AS x WHERE ${subjectLive}
      ORDER BY created_at, seq`,
    insertSession: `
      INSERT INTO ${s}.sessions (sid, subject, gen, created_at, last_used_at, expires_at, device, claims, current_hash, rotated_at)
      VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $4)
      RETURNING ${SESSION_COLUMNS}`,
    getSession: `SELECT ${SESSION_COLUMNS} FROM ${s}.sessions WHERE sid = $1`,
    listSessions: `
      SELECT ${SESSION_COLUMNS} FROM ${s}.sessions AS x WHERE ${subjectLive}
      ORDER BY created_at DESC, seq`,

    /** The compare-and-set: only the current hash of a live session rotates. */
    rotate: `
      UPDATE ${s}.sessions SET previous_hash = current_hash, current_hash = $3, rotated_at = $4, last_used_at = $4
      WHERE sid = $1 AND current_hash = $2 AND ${live}
      RETURNING ${SESSION_COLUMNS}`,
    grace: `
      UPDATE ${s}.sessions SET current_hash = $3, last_used_at = $4
      WHERE sid = $1 AND previous_hash = $2 AND $4::bigint - rotated_at < $6::bigint AND ${live}
      RETURNING ${SESSION_COLUMNS}`,
    /**
     * Neither current nor a tolerated predecessor: the session is revoked and the reuse recorded, at once. With
     * no grace window nothing is tolerated, even a rotation stamped a little after `now` by another process.
     */
    reuse: `
      WITH marked AS (
        UPDATE ${s}.sessions SET revoked_at = $11::bigint
        WHERE sid = $1 AND revoked_at IS NULL AND expires_at > $3::bigint AND last_used_at > $4::bigint
          AND current_hash <> $2::text
          AND NOT ($5::bigint > 0 AND COALESCE(previous_hash = $2::text, false) AND $3::bigint - rotated_at < $5::bigint)
        RETURNING sid
      ),
      ${insertRevocation("SELECT $6::text, $7::text, $8::text, $9::text, $10::text, $11::bigint, $12::bigint, 0 FROM marked")}
      ${announce("flushed")}`,
    /** Writes WAL, so that its commit waits for the flush (see flushWal); flushByRow where the first is refused. */
    flushByMessage: "SELECT pg_logical_emit_message(true, 'revocable', '')",
    flushByRow: `UPDATE ${s}.migrations SET version = version WHERE version = (SELECT max(version) FROM ${s}.migrations)`,
    sessionState: `SELECT revoked_at, expires_at > $2 AND last_used_at > $3 AS live FROM ${s}.sessions WHERE sid = $1`,

    listKeys: `SELECT kid, alg, private_jwk, created_at, retired_at FROM ${s}.keys ORDER BY created_at, kid`,
    saveKey: `
      WITH k AS (
        INSERT INTO ${s}.keys (kid, alg, private_jwk, created_at, retired_at) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, private_jwk = excluded.private_jwk,
          created_at = excluded.created_at, retired_at = excluded.retired_at
      ) ${announceKeys}`,
    retireKey: `WITH k AS (UPDATE ${s}.keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL) ${announceKeys}`,
    deleteKey: `WITH k AS (DELETE FROM ${s}.keys WHERE kid = $1) ${announceKeys}`,

    // At most $2 rows each. SKIP LOCKED: a purge never waits for a lock, so it can take part in no deadlock; a
    // row someone holds is purged next time.
    purgeSessions: purgeChunk("sessions", "expires_at"),
    purgeRevocations: purgeChunk("revocations", "expires_at"),
    purgeWindows: purgeChunk("windows", "reset_at"),

    getDocument: `SELECT json FROM ${s}.documents WHERE collection = $1 AND id = $2`,
    putDocument: `
      INSERT INTO ${s}.documents (collection, id, json) VALUES ($1, $2, $3)
      ON CONFLICT (collection, id) DO UPDATE SET json = excluded.json`,
    createDocument: `INSERT INTO ${s}.documents (collection, id, json) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
    replaceDocument: `UPDATE ${s}.documents SET json = $3 WHERE collection = $1 AND id = $2 AND json = $4`,
    deleteDocument: `DELETE FROM ${s}.documents WHERE collection = $1 AND id = $2`,
    listDocuments: `
      SELECT id, json FROM ${s}.documents WHERE collection = $1 AND ($2::text IS NULL OR id > $2)
      ORDER BY id LIMIT $3`,
    hit: `
      INSERT INTO ${s}.windows AS w (key, count, reset_at) VALUES ($1, 1, $2::bigint + $3::bigint)
      ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN w.reset_at <= $2 THEN 1 ELSE w.count + 1 END,
        reset_at = CASE WHEN w.reset_at <= $2 THEN excluded.reset_at ELSE w.reset_at END
      RETURNING count, reset_at`,
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
