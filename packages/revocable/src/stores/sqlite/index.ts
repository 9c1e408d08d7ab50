/**
 * The embedded store: one SQLite file (`node:sqlite`), durable, and shared by every process that opens it.
 *
 * Each write is one `BEGIN IMMEDIATE` transaction, committed with `synchronous=FULL` in WAL mode, so what a
 * method acknowledged survives a crash and is atomic across processes. Changes reach this store object's own
 * subscribers before the write resolves; other processes (and other store objects on the same file) read them
 * from a change log that each one polls every `pollInterval` milliseconds.
 *
 * Session times come from SQLite's clock: the time SQLite reads from the machine, inside the transaction, not
 * the process's `Date`. Every process on one file runs on one machine (WAL needs shared memory), so all of them
 * agree on when a session was created, last used and rotated.
 *
 * No call waits forever for a lock: a call that finds the file locked by another connection retries for up to
 * `busyTimeoutMs` (default 5 s), then rejects (in `createAuth`, `store_unavailable`). `node:sqlite` is
 * synchronous, so the process waits with it. Reads never wait for writers (WAL).
 *
 * @example
 * import { createAuth } from "revocable"
 * import { sqliteStore } from "revocable/stores/sqlite"
 * const auth = createAuth({ issuer: "https://auth.example", audience: "api", store: sqliteStore({ path: "./data/auth.db" }) })
 */
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { decodeCursor, decodeIdCursor, encodeCursor, hashEquals, mergeRevocation } from "../shared.ts"
import { sqliteAudit } from "./audit.ts"
import { Feed } from "./feed.ts"
import { migrate } from "./migrations.ts"
import { prepare, toRevocation, toSession, type Connection, type KeyRow, type RevocationRow, type SessionRow } from "./statements.ts"
import { transaction } from "./transaction.ts"
import type { Clock, CreateSessionResult, Page, Revocation, RevocationInput, RotateResult, Store, StoredKey } from "../../core/store.ts"
import type { Document, ServerStore } from "../server-store.ts"

/** Revocations per page of readSnapshot. */
const SNAPSHOT_PAGE = 10_000

export interface SqliteStoreOptions {
  /** The database file. Its directory is created when missing. */
  path: string
  /** How often, in milliseconds, to read changes made by other processes. Default 50. */
  pollInterval?: number
  /** How long, in milliseconds, a call waits for a lock held by another connection before it rejects. Default 5000. */
  busyTimeoutMs?: number
  /** Reads the time for session times; by default SQLite's own clock (see above). For tests that control time. */
  clock?: Clock
}

/** Change-log rows are kept at least this long (by the clock passed to `purge`) for pollers that fall behind. */
const CHANGE_LOG_RETENTION_MS = 3_600_000

export function sqliteStore(options: SqliteStoreOptions): ServerStore {
  if (!options || typeof options !== "object") throw new TypeError("sqliteStore needs an options object.")
  const { path, clock } = options
  if (typeof path !== "string" || path === "") throw new TypeError("Option path must be a non-empty string.")
  const pollInterval = options.pollInterval ?? 50
  if (typeof pollInterval !== "number" || !Number.isFinite(pollInterval) || pollInterval <= 0) {
    throw new TypeError("Option pollInterval must be a positive number of milliseconds.")
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0 || busyTimeoutMs > 3_600_000) {
    throw new TypeError("Option busyTimeoutMs must be an integer from 0 to 3600000.")
  }
  if (clock !== undefined && typeof clock !== "function") throw new TypeError("Option clock must be a function.")
  /** The store's now, read inside the operation's transaction. */
  const time = clock ? () => clock() : (c: Connection) => (c.now.get() as { now: number }).now

  let connection: Connection | null = null
  let closed = false
  const feed = new Feed(pollInterval, () => connection)

  function connect(): Connection {
    if (connection === null) throw new Error(closed ? "The SQLite store is closed." : "The SQLite store is not open: call open() first.")
    return connection
  }

  /** Runs `work` as one write transaction, then hands this object's subscribers what the change log gained. */
  function write<T>(work: (c: Connection) => T): T {
    const c = connect()
    // The change log is read under the write lock: other processes' changes come first, in commit order, then ours.
    const [result, pending] = transaction(c.db, "BEGIN IMMEDIATE", () => [work(c), feed.read(c)] as const)
    if (pending) feed.accept(pending)
    return result
  }

  function record(c: Connection, input: RevocationInput): Revocation {
    const existing = c.getRevocation.get({ kind: input.kind, id: input.id }) as RevocationRow | undefined
    let cutoff = 0
    if (input.kind === "subject") {
      cutoff = ((c.getGeneration.get({ subject: input.id }) as { gen: number } | undefined)?.gen ?? 0) + 1
      c.setGeneration.run({ subject: input.id, gen: cutoff })
    }
    if (input.kind === "session") c.markSessionRevoked.run({ sid: input.id, at: input.createdAt })
    const merged = mergeRevocation(existing && toRevocation(existing), input, cutoff)
    const revocation: Revocation = {
      kind: merged.kind,
      id: merged.id,
      subject: merged.subject,
      reason: merged.reason,
      actor: merged.actor,
      createdAt: merged.createdAt,
      expiresAt: merged.expiresAt,
      cutoff: merged.cutoff,
      replicaUntil: merged.replicaUntil,
    }
    c.upsertRevocation.run({ ...revocation })
    c.appendChange.run({ type: "revoked", kind: revocation.kind, id: revocation.id, revocation: JSON.stringify(revocation) })
    return revocation
  }

  function keysChanged(c: Connection): void {
    c.appendChange.run({ type: "keys", kind: null, id: null, revocation: null })
  }

  /** Keeps change-log rows for at least the retention time: rows older than a mark set that long ago go. */
  function trimChangeLog(c: Connection, now: number): void {
    const markAt = (c.getMeta.get({ name: "mark_at" }) as { value: number } | undefined)?.value
    const lastSeq = (c.lastSeq.get() as { seq: number }).seq
    if (markAt !== undefined && now >= markAt && now - markAt < CHANGE_LOG_RETENTION_MS) return
    if (markAt !== undefined && now >= markAt) {
      const markSeq = (c.getMeta.get({ name: "mark_seq" }) as { value: number }).value
      c.deleteChangesUpTo.run({ seq: markSeq })
      c.setMeta.run({ name: "purged_seq", value: markSeq })
    }
    c.setMeta.run({ name: "mark_at", value: now })
    c.setMeta.run({ name: "mark_seq", value: lastSeq })
  }

  return {
    name: "sqlite",
    heartbeatMs: pollInterval,

    async open() {
      if (connection !== null) return
      if (closed) throw new Error("The SQLite store is closed.")
      if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true })
      const db = new DatabaseSync(path)
      try {
        db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`)
        db.exec("PRAGMA journal_mode = WAL")
        db.exec("PRAGMA synchronous = FULL")
        db.exec("PRAGMA foreign_keys = ON")
        migrate(db, path)
        connection = prepare(db)
      } catch (error) {
        db.close()
        throw error
      }
    },

    async close() {
      if (closed) return
      closed = true
      feed.close()
      const c = connection
      connection = null
      c?.db.close()
    },

    async revoke(input) {
      return write((c) => record(c, input))
    },

    async unrevoke(kind, id) {
      return write((c) => {
        const existed = c.deleteRevocation.run({ kind, id }).changes > 0
        if (kind === "session") c.clearSessionRevoked.run({ sid: id })
        if (existed) c.appendChange.run({ type: "unrevoked", kind, id, revocation: null })
        return existed
      })
    },

    async isRevoked({ jti, sid, subject, gen, kid, now }) {
      return connect().matchRevocation.get({ jti, sid, subject, gen, kid, now }) !== undefined
    },

    async snapshot(now) {
      return (connect().liveRevocations.all({ now }) as unknown as RevocationRow[]).map(toRevocation)
    },

    // One statement's read, as snapshot's (WAL keeps it consistent), handed over in pages: a starting instance
    // never holds every row and every revocation at once. Synchronous, as every SQLite read.
    async readSnapshot(now, page) {
      let rows: Revocation[] = []
      for (const row of connect().liveRevocations.iterate({ now }) as unknown as Iterable<RevocationRow>) {
        rows.push(toRevocation(row))
        if (rows.length === SNAPSHOT_PAGE) {
          page(rows)
          rows = []
        }
      }
      if (rows.length > 0) page(rows)
    },

    async listRevocations(query): Promise<Page<Revocation>> {
      const rows = connect().pageRevocations.all({
        now: query.now,
        kind: query.kind ?? null,
        subject: query.subject ?? null,
        before: decodeCursor(query.cursor),
        take: query.limit + 1,
      }) as unknown as RevocationRow[]
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return {
        items: page.map(toRevocation),
        next: rows.length > query.limit && last ? encodeCursor(last.seq) : null,
      }
    },

    async createSession(input) {
      return write((c): CreateSessionResult => {
        const now = time(c)
        const { session, limit } = input
        const evicted: Revocation[] = []
        if (limit !== null) {
          const live = c.liveSessionsOldestFirst.all({
            subject: session.subject,
            now,
            idleSince: now - input.idleTimeoutMs,
          }) as unknown as Pick<SessionRow, "sid" | "subject" | "expires_at">[]
          const excess = live.length + 1 - limit
          if (excess > 0 && input.onExceed === "reject") return { ok: false, reason: "limit" }
          for (const row of live.slice(0, Math.max(0, excess))) {
            evicted.push(
              record(c, { ...input.evictTemplate, id: row.sid, subject: row.subject, expiresAt: row.expires_at + input.leewayMs }),
            )
          }
        }
        const gen = (c.getGeneration.get({ subject: session.subject }) as { gen: number } | undefined)?.gen ?? 0
        c.insertSession.run({
          sid: session.sid,
          subject: session.subject,
          gen,
          now,
          expiresAt: now + session.ttlMs,
          device: session.device,
          claims: JSON.stringify(session.claims),
          hash: session.refreshHash,
        })
        return { ok: true, session: toSession(c.getSession.get({ sid: session.sid }) as unknown as SessionRow), evicted }
      })
    },

    async getSession(sid) {
      const row = connect().getSession.get({ sid }) as SessionRow | undefined
      return row ? toSession(row) : null
    },

    async listSessions(subject, idleTimeoutMs) {
      const c = connect()
      const now = time(c)
      return (c.liveSessionsNewestFirst.all({ subject, now, idleSince: now - idleTimeoutMs }) as unknown as SessionRow[]).map(toSession)
    },

    async rotate(input) {
      return write((c): RotateResult => {
        const now = time(c)
        const row = c.getSession.get({ sid: input.sid }) as SessionRow | undefined
        if (!row) return { status: "missing" }
        const cutOff = c.subjectCutOff.get({ subject: row.subject, now, gen: row.gen }) !== undefined
        if (row.revoked_at !== null || cutOff) return { status: "revoked" }
        if (row.expires_at <= now || row.last_used_at <= now - input.idleTimeoutMs) return { status: "expired" }
        if (hashEquals(row.current_hash, input.presentedHash)) {
          c.rotateSession.run({ sid: input.sid, previous: row.current_hash, current: input.nextHash, now })
          return { status: "rotated", session: toSession({ ...row, last_used_at: now }) }
        }
        // The predecessor, only within a grace window opened by a rotation at or before now: none when graceMs is 0.
        const sinceRotation = now - row.rotated_at
        if (
          input.graceMs > 0 &&
          sinceRotation >= 0 &&
          sinceRotation < input.graceMs &&
          row.previous_hash !== null &&
          hashEquals(row.previous_hash, input.presentedHash)
        ) {
          c.graceSession.run({ sid: input.sid, current: input.nextHash, now })
          return { status: "grace", session: toSession({ ...row, last_used_at: now }) }
        }
        return { status: "reused", revocation: record(c, input.reuseRevocation) }
      })
    },

    async now() {
      return time(connect())
    },
    async listKeys() {
      return (connect().listKeys.all() as unknown as KeyRow[]).map(
        (row): StoredKey => ({
          kid: row.kid,
          alg: row.alg,
          privateJwk: row.private_jwk,
          createdAt: row.created_at,
          activatesAt: row.activates_at,
          retiredAt: row.retired_at,
        }),
      )
    },
    async saveKey(key) {
      write((c) => {
        c.upsertKey.run({ kid: key.kid, alg: key.alg, jwk: key.privateJwk, createdAt: key.createdAt, activatesAt: key.activatesAt ?? null, retiredAt: key.retiredAt })
        keysChanged(c)
      })
    },
    async retireKey(kid, at) {
      write((c) => {
        c.retireKey.run({ kid, at })
        keysChanged(c)
      })
    },
    async deleteKey(kid) {
      write((c) => {
        c.deleteKey.run({ kid })
        keysChanged(c)
      })
    },

    async subscribe(listener) {
      return feed.subscribe(connect(), listener)
    },

    async purge(now) {
      return write((c) => {
        let removed = 0
        for (const statement of [c.purgeRevocations, c.purgeSessions, c.purgeWindows]) removed += Number(statement.run({ now }).changes)
        trimChangeLog(c, now)
        return removed
      })
    },

    async getDocument(collection, id) {
      return (connect().getDocument.get({ collection, id }) as { json: string } | undefined)?.json ?? null
    },
    async putDocument(collection, id, json, expected) {
      return write((c) => {
        if (expected !== undefined) {
          const current = (c.getDocument.get({ collection, id }) as { json: string } | undefined)?.json ?? null
          if (current !== expected) return false
        }
        c.putDocument.run({ collection, id, json })
        return true
      })
    },
    async deleteDocument(collection, id) {
      return write((c) => c.deleteDocument.run({ collection, id }).changes > 0)
    },
    async listDocuments(collection, query): Promise<Page<Document>> {
      const rows = connect().pageDocuments.all({
        collection,
        after: decodeIdCursor(query.cursor),
        take: query.limit + 1,
      }) as unknown as Document[]
      const page = rows.slice(0, query.limit).map((row) => ({ id: row.id, json: row.json }))
      const last = page.at(-1)
      return { items: page, next: rows.length > query.limit && last ? encodeCursor(last.id) : null }
    },
    async hit(key, windowMs, now) {
      const row = write((c) => c.hit.get({ key, now, resetAt: now + windowMs })) as { count: number; reset_at: number }
      return { count: row.count, resetAt: row.reset_at }
    },
    ...sqliteAudit({ connect, write, time }),
  }
}
