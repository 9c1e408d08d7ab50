/**
 * The embedded store: one SQLite file (`node:sqlite`), durable, and shared by every process that opens it.
 *
 * Each write is one `BEGIN IMMEDIATE` transaction, committed with `synchronous=FULL` in WAL mode, so what a
 * method acknowledged survives a crash and is atomic across processes. Changes reach this store object's own
 * subscribers before the write resolves; other processes (and other store objects on the same file) read them
 * from a change log that each one polls every `pollInterval` milliseconds.
 *
 * @example
 * import { createAuth } from "revocable"
 * import { sqliteStore } from "revocable/stores/sqlite"
 * const auth = createAuth({ issuer: "https://auth.example", audience: "api", store: sqliteStore({ path: "./data/auth.db" }) })
 */
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { decodeCursor, decodeIdCursor, encodeCursor, hashEquals, mergeRevocation } from "./shared.ts"
import type {
  ChangeEvent,
  ChangeListener,
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
  Subscription,
} from "./contract.ts"

export interface SqliteStoreOptions {
  /** The database file. Its directory is created when missing. */
  path: string
  /** How often, in milliseconds, to read changes made by other processes. Default 50. */
  pollInterval?: number
}

const BUSY_TIMEOUT_MS = 5000
/** Change-log rows are kept at least this long (by the clock passed to `purge`) for pollers that fall behind. */
const CHANGE_LOG_RETENTION_MS = 3_600_000

/** Schema steps, applied in order on open; `PRAGMA user_version` counts those applied. Only ever append. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE revocations (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL CHECK (kind IN ('token', 'session', 'subject', 'key')),
     id TEXT NOT NULL,
     subject TEXT,
     reason TEXT,
     actor TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     cutoff INTEGER NOT NULL,
     UNIQUE (kind, id)
   );
   CREATE INDEX revocations_expires_at ON revocations (expires_at);
   CREATE INDEX revocations_subject ON revocations (subject, seq);
   CREATE TABLE generations (subject TEXT PRIMARY KEY, gen INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE sessions (
     sid TEXT PRIMARY KEY,
     subject TEXT NOT NULL,
     gen INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     last_used_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     device TEXT,
     claims TEXT NOT NULL,
     revoked_at INTEGER,
     current_hash TEXT NOT NULL,
     previous_hash TEXT,
     rotated_at INTEGER NOT NULL
   );
   CREATE INDEX sessions_subject ON sessions (subject, created_at);
   CREATE INDEX sessions_expires_at ON sessions (expires_at);
   CREATE TABLE signing_keys (
     kid TEXT PRIMARY KEY,
     alg TEXT NOT NULL,
     private_jwk TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     retired_at INTEGER
   );
   CREATE TABLE changes (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     type TEXT NOT NULL CHECK (type IN ('revoked', 'unrevoked', 'keys')),
     kind TEXT,
     id TEXT,
     revocation TEXT
   );
   CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;`,
  `CREATE TABLE documents (
     collection TEXT NOT NULL,
     id TEXT NOT NULL,
     json TEXT NOT NULL,
     PRIMARY KEY (collection, id)
   ) WITHOUT ROWID;
   CREATE TABLE rate_windows (key TEXT PRIMARY KEY, count INTEGER NOT NULL, reset_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX rate_windows_reset_at ON rate_windows (reset_at);`,
]

interface RevocationRow {
  seq: number
  kind: RevocationKind
  id: string
  subject: string | null
  reason: string | null
  actor: string | null
  created_at: number
  expires_at: number
  cutoff: number
}

interface SessionRow {
  sid: string
  subject: string
  gen: number
  created_at: number
  last_used_at: number
  expires_at: number
  device: string | null
  claims: string
  revoked_at: number | null
  current_hash: string
  previous_hash: string | null
  rotated_at: number
}

interface KeyRow {
  kid: string
  alg: string
  private_jwk: string
  created_at: number
  retired_at: number | null
}

interface ChangeRow {
  seq: number
  type: "revoked" | "unrevoked" | "keys"
  kind: RevocationKind | null
  id: string | null
  revocation: string | null
}

/** What a read of the change log found, applied to `position` only once its transaction has committed. */
interface Pending {
  events: ChangeEvent[]
  position: number
}

type Connection = ReturnType<typeof prepare>

export function sqliteStore(options: SqliteStoreOptions): Store {
  if (!options || typeof options !== "object") throw new TypeError("sqliteStore needs an options object.")
  const { path } = options
  if (typeof path !== "string" || path === "") throw new TypeError("Option path must be a non-empty string.")
  const pollInterval = options.pollInterval ?? 50
  if (typeof pollInterval !== "number" || !Number.isFinite(pollInterval) || pollInterval <= 0) {
    throw new TypeError("Option pollInterval must be a positive number of milliseconds.")
  }

  let connection: Connection | null = null
  let closed = false
  const listeners = new Set<ChangeListener>()
  const queue: ChangeEvent[] = []
  let draining = false
  /** The last change-log seq delivered to this object's listeners (meaningful while there are listeners). */
  let position = 0
  /** `PRAGMA data_version` when the change log was last read: unchanged means no other connection committed. */
  let dataVersion = -1
  let timer: NodeJS.Timeout | undefined

  function connect(): Connection {
    if (connection === null) throw new Error(closed ? "The SQLite store is closed." : "The SQLite store is not open: call open() first.")
    return connection
  }

  /** Runs `work` as one write transaction, then hands this object's listeners what the change log gained. */
  function write<T>(work: (c: Connection) => T): T {
    const c = connect()
    c.db.exec("BEGIN IMMEDIATE")
    let result: T
    let pending: Pending | null = null
    try {
      result = work(c)
      // Read under the write lock: other processes' changes come first, in commit order, then ours.
      if (listeners.size > 0) pending = readChanges(c)
      c.db.exec("COMMIT")
    } catch (error) {
      rollback(c.db)
      throw error
    }
    if (pending) accept(pending)
    return result
  }

  function readChanges(c: Connection): Pending {
    const events: ChangeEvent[] = []
    let from = position
    const purged = (c.getMeta.get({ name: "purged_seq" }) as { value: number } | undefined)?.value ?? 0
    if (purged > from) {
      events.push({ type: "reset" })
      from = purged
    }
    for (const row of c.changesAfter.all({ seq: from }) as unknown as ChangeRow[]) {
      events.push(toEvent(row))
      from = row.seq
    }
    return { events, position: from }
  }

  function accept(pending: Pending): void {
    position = pending.position
    deliver(pending.events)
  }

  /** Delivers in order even when a listener writes to this store while it is being called. */
  function deliver(events: readonly ChangeEvent[]): void {
    queue.push(...events)
    if (draining) return
    draining = true
    try {
      for (let event = queue.shift(); event !== undefined; event = queue.shift()) {
        for (const listener of listeners) {
          try {
            listener(event)
          } catch (error) {
            process.emitWarning(error instanceof Error ? error : String(error), { code: "REVOCABLE_LISTENER" })
          }
        }
      }
    } finally {
      draining = false
    }
  }

  function poll(): void {
    if (connection === null) return
    const c = connection
    try {
      const version = (c.dataVersion.get() as { data_version: number }).data_version
      if (version !== dataVersion) {
        c.db.exec("BEGIN")
        let pending: Pending
        try {
          pending = readChanges(c)
        } finally {
          c.db.exec("COMMIT")
        }
        dataVersion = version
        accept(pending)
      }
      deliver([{ type: "sync" }])
    } catch {
      // No sync this time: if reads keep failing, the core sees the replica go stale and asks the store itself.
    }
  }

  function startPolling(c: Connection): void {
    // data_version before the position: a commit in between is then read again, never skipped.
    dataVersion = (c.dataVersion.get() as { data_version: number }).data_version
    position = (c.lastSeq.get() as { seq: number }).seq
    timer = setInterval(poll, pollInterval)
    timer.unref()
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
    }
    c.upsertRevocation.run({
      kind: revocation.kind,
      id: revocation.id,
      subject: revocation.subject,
      reason: revocation.reason,
      actor: revocation.actor,
      createdAt: revocation.createdAt,
      expiresAt: revocation.expiresAt,
      cutoff: revocation.cutoff,
    })
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
        db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)
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
      clearInterval(timer)
      listeners.clear()
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

    async isRevoked(query: RevocationQuery) {
      const { jti, sid, subject, gen, kid, now } = query
      return connect().matchRevocation.get({ jti, sid, subject, gen, kid, now }) !== undefined
    },

    async snapshot(now) {
      return (connect().liveRevocations.all({ now }) as unknown as RevocationRow[]).map(toRevocation)
    },

    async listRevocations(query: ListRevocationsQuery): Promise<Page<Revocation>> {
      const before = decodeCursor(query.cursor)
      const rows = connect().pageRevocations.all({
        now: query.now,
        kind: query.kind ?? null,
        subject: query.subject ?? null,
        before,
        take: query.limit + 1,
      }) as unknown as RevocationRow[]
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return {
        items: page.map(toRevocation),
        next: rows.length > query.limit && last ? encodeCursor(last.seq) : null,
      }
    },

    async createSession(input: CreateSessionInput): Promise<CreateSessionResult> {
      return write((c): CreateSessionResult => {
        const { session, limit } = input
        const evicted: Revocation[] = []
        if (limit !== null) {
          const live = c.liveSessionsOldestFirst.all({
            subject: session.subject,
            now: session.createdAt,
            idleSince: input.idleSince,
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
          createdAt: session.createdAt,
          expiresAt: session.expiresAt,
          device: session.device,
          claims: JSON.stringify(session.claims),
          hash: session.refreshHash,
        })
        return { ok: true, session: view(c.getSession.get({ sid: session.sid }) as unknown as SessionRow), evicted }
      })
    },

    async getSession(sid) {
      const row = connect().getSession.get({ sid }) as SessionRow | undefined
      return row ? view(row) : null
    },

    async listSessions(subject, now, idleSince) {
      return (connect().liveSessionsNewestFirst.all({ subject, now, idleSince }) as unknown as SessionRow[]).map(view)
    },

    async rotate(input: RotateInput): Promise<RotateResult> {
      return write((c): RotateResult => {
        const row = c.getSession.get({ sid: input.sid }) as SessionRow | undefined
        if (!row) return { status: "missing" }
        if (row.revoked_at !== null) return { status: "revoked" }
        if (row.expires_at <= input.now || row.last_used_at <= input.idleSince) return { status: "expired" }
        if (hashEquals(row.current_hash, input.presentedHash)) {
          c.rotateSession.run({ sid: input.sid, previous: row.current_hash, current: input.nextHash, now: input.now })
          return { status: "rotated", session: view({ ...row, last_used_at: input.now }) }
        }
        if (
          row.previous_hash !== null &&
          hashEquals(row.previous_hash, input.presentedHash) &&
          input.graceMs > 0 &&
          input.now - row.rotated_at < input.graceMs
        ) {
          c.graceSession.run({ sid: input.sid, current: input.nextHash, now: input.now })
          return { status: "grace", session: view({ ...row, last_used_at: input.now }) }
        }
        return { status: "reused", revocation: record(c, input.reuseRevocation) }
      })
    },

    async listKeys() {
      return (connect().listKeys.all() as unknown as KeyRow[]).map(
        (row): StoredKey => ({ kid: row.kid, alg: row.alg, privateJwk: row.private_jwk, createdAt: row.created_at, retiredAt: row.retired_at }),
      )
    },
    async saveKey(key) {
      write((c) => {
        c.upsertKey.run({ kid: key.kid, alg: key.alg, jwk: key.privateJwk, createdAt: key.createdAt, retiredAt: key.retiredAt })
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

    async subscribe(listener): Promise<Subscription> {
      const c = connect()
      if (listeners.size === 0) startPolling(c)
      else poll()
      listeners.add(listener)
      let active = true
      return {
        async close() {
          if (!active) return
          active = false
          listeners.delete(listener)
          if (listeners.size === 0) clearInterval(timer)
        },
      }
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
  }
}

function migrate(db: DatabaseSync, path: string): void {
  db.exec("BEGIN IMMEDIATE")
  try {
    const version = (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version
    if (version > MIGRATIONS.length) {
      throw new Error(`The database ${path} has schema version ${version}; this revocable knows up to ${MIGRATIONS.length}.`)
    }
    for (const step of MIGRATIONS.slice(version)) db.exec(step)
    if (version < MIGRATIONS.length) db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`)
    db.exec("COMMIT")
  } catch (error) {
    rollback(db)
    throw error
  }
}

function rollback(db: DatabaseSync): void {
  try {
    db.exec("ROLLBACK")
  } catch {
    // SQLite already rolled back (it does on some errors): nothing left to undo.
  }
}

function prepare(db: DatabaseSync) {
  const revocationColumns = "seq, kind, id, subject, reason, actor, created_at, expires_at, cutoff"
  // Live: not revoked, not ended, not idle, and not cut off by a live subject revocation (as matchRevocation).
  const liveSession = `s.subject = :subject AND s.revoked_at IS NULL AND s.expires_at > :now AND s.last_used_at > :idleSince
    AND NOT EXISTS (SELECT 1 FROM revocations AS r
      WHERE r.kind = 'subject' AND r.id = s.subject AND r.expires_at > :now AND r.cutoff > s.gen)`
  return {
    db,
    dataVersion: db.prepare("PRAGMA data_version"),
    lastSeq: db.prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0) AS seq"),
    getMeta: db.prepare("SELECT value FROM meta WHERE name = :name"),
    setMeta: db.prepare("INSERT INTO meta (name, value) VALUES (:name, :value) ON CONFLICT (name) DO UPDATE SET value = excluded.value"),
    changesAfter: db.prepare("SELECT seq, type, kind, id, revocation FROM changes WHERE seq > :seq ORDER BY seq"),
    appendChange: db.prepare("INSERT INTO changes (type, kind, id, revocation) VALUES (:type, :kind, :id, :revocation)"),
    deleteChangesUpTo: db.prepare("DELETE FROM changes WHERE seq <= :seq"),

    getRevocation: db.prepare(`SELECT ${revocationColumns} FROM revocations WHERE kind = :kind AND id = :id`),
    upsertRevocation: db.prepare(
      `INSERT INTO revocations (kind, id, subject, reason, actor, created_at, expires_at, cutoff)
       VALUES (:kind, :id, :subject, :reason, :actor, :createdAt, :expiresAt, :cutoff)
       ON CONFLICT (kind, id) DO UPDATE SET subject = excluded.subject, reason = excluded.reason, actor = excluded.actor,
         created_at = excluded.created_at, expires_at = excluded.expires_at, cutoff = excluded.cutoff`,
    ),
    deleteRevocation: db.prepare("DELETE FROM revocations WHERE kind = :kind AND id = :id"),
    matchRevocation: db.prepare(
      `SELECT 1 FROM revocations WHERE expires_at > :now AND (
         (kind = 'token' AND id = :jti) OR (kind = 'session' AND id = :sid) OR (kind = 'key' AND id = :kid)
         OR (kind = 'subject' AND id = :subject AND cutoff > :gen)) LIMIT 1`,
    ),
    liveRevocations: db.prepare(`SELECT ${revocationColumns} FROM revocations WHERE expires_at > :now ORDER BY seq`),
    pageRevocations: db.prepare(
      `SELECT ${revocationColumns} FROM revocations
       WHERE expires_at > :now AND (:kind IS NULL OR kind = :kind) AND (:subject IS NULL OR subject = :subject)
         AND (:before IS NULL OR seq < :before)
       ORDER BY seq DESC LIMIT :take`,
    ),
    purgeRevocations: db.prepare("DELETE FROM revocations WHERE expires_at <= :now"),
    getGeneration: db.prepare("SELECT gen FROM generations WHERE subject = :subject"),
    setGeneration: db.prepare(
      "INSERT INTO generations (subject, gen) VALUES (:subject, :gen) ON CONFLICT (subject) DO UPDATE SET gen = excluded.gen",
    ),

    getSession: db.prepare("SELECT * FROM sessions WHERE sid = :sid"),
    insertSession: db.prepare(
      `INSERT INTO sessions (sid, subject, gen, created_at, last_used_at, expires_at, device, claims, revoked_at, current_hash, previous_hash, rotated_at)
       VALUES (:sid, :subject, :gen, :createdAt, :createdAt, :expiresAt, :device, :claims, NULL, :hash, NULL, :createdAt)`,
    ),
    liveSessionsOldestFirst: db.prepare(
      `SELECT s.sid, s.subject, s.expires_at FROM sessions AS s WHERE ${liveSession} ORDER BY s.created_at, s.rowid`,
    ),
    liveSessionsNewestFirst: db.prepare(`SELECT s.* FROM sessions AS s WHERE ${liveSession} ORDER BY s.created_at DESC, s.rowid`),
    markSessionRevoked: db.prepare("UPDATE sessions SET revoked_at = :at WHERE sid = :sid AND revoked_at IS NULL"),
    clearSessionRevoked: db.prepare("UPDATE sessions SET revoked_at = NULL WHERE sid = :sid"),
    rotateSession: db.prepare(
      "UPDATE sessions SET previous_hash = :previous, current_hash = :current, rotated_at = :now, last_used_at = :now WHERE sid = :sid",
    ),
    graceSession: db.prepare("UPDATE sessions SET current_hash = :current, last_used_at = :now WHERE sid = :sid"),
    purgeSessions: db.prepare("DELETE FROM sessions WHERE expires_at <= :now"),

    listKeys: db.prepare("SELECT kid, alg, private_jwk, created_at, retired_at FROM signing_keys ORDER BY rowid"),
    upsertKey: db.prepare(
      `INSERT INTO signing_keys (kid, alg, private_jwk, created_at, retired_at) VALUES (:kid, :alg, :jwk, :createdAt, :retiredAt)
       ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, private_jwk = excluded.private_jwk,
         created_at = excluded.created_at, retired_at = excluded.retired_at`,
    ),
    retireKey: db.prepare("UPDATE signing_keys SET retired_at = :at WHERE kid = :kid AND retired_at IS NULL"),
    deleteKey: db.prepare("DELETE FROM signing_keys WHERE kid = :kid"),

    getDocument: db.prepare("SELECT json FROM documents WHERE collection = :collection AND id = :id"),
    putDocument: db.prepare(
      "INSERT INTO documents (collection, id, json) VALUES (:collection, :id, :json) ON CONFLICT (collection, id) DO UPDATE SET json = excluded.json",
    ),
    deleteDocument: db.prepare("DELETE FROM documents WHERE collection = :collection AND id = :id"),
    pageDocuments: db.prepare(
      "SELECT id, json FROM documents WHERE collection = :collection AND (:after IS NULL OR id > :after) ORDER BY id LIMIT :take",
    ),
    hit: db.prepare(
      `INSERT INTO rate_windows (key, count, reset_at) VALUES (:key, 1, :resetAt)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN reset_at <= :now THEN 1 ELSE count + 1 END,
         reset_at = CASE WHEN reset_at <= :now THEN :resetAt ELSE reset_at END
       RETURNING count, reset_at`,
    ),
    purgeWindows: db.prepare("DELETE FROM rate_windows WHERE reset_at <= :now"),
  }
}

function toRevocation(row: RevocationRow): Revocation {
  return {
    kind: row.kind,
    id: row.id,
    subject: row.subject,
    reason: row.reason,
    actor: row.actor,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    cutoff: row.cutoff,
  }
}

function view(row: SessionRow): Session {
  return {
    sid: row.sid,
    subject: row.subject,
    gen: row.gen,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    device: row.device,
    claims: JSON.parse(row.claims) as Record<string, unknown>,
    revokedAt: row.revoked_at,
  }
}

function toEvent(row: ChangeRow): ChangeEvent {
  switch (row.type) {
    case "revoked":
      return { type: "revoked", revocation: JSON.parse(row.revocation ?? "null") as Revocation }
    case "unrevoked":
      return { type: "unrevoked", kind: row.kind as RevocationKind, id: row.id as string }
    case "keys":
      return { type: "keys" }
  }
}
