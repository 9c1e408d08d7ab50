// The server's audit log (ServerStore): one table, indexed by time alone, by subject and by type.
import type { DatabaseSync, StatementSync } from "node:sqlite"
import { auditPage, decodeAuditCursor, redaction, type AuditLog } from "../audit.ts"
import type { Connection } from "./statements.ts"
import type { AuditEvent, AuditQuery } from "../server-store.ts"

/** The migration step that creates the log (migrations.ts); it tolerates a log left by a schema rolled back by hand. */
export const AUDIT_SCHEMA = `CREATE TABLE IF NOT EXISTS audit (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     type TEXT NOT NULL,
     subject TEXT,
     actor TEXT,
     session_id TEXT,
     ip TEXT,
     user_agent TEXT,
     reason TEXT,
     details TEXT
   );
   CREATE INDEX IF NOT EXISTS audit_at ON audit (at, seq);
   CREATE INDEX IF NOT EXISTS audit_subject ON audit (subject, at, seq);
   CREATE INDEX IF NOT EXISTS audit_type ON audit (type, at, seq);`

interface AuditRow {
  seq: number
  at: number
  type: string
  subject: string | null
  actor: string | null
  session_id: string | null
  ip: string | null
  user_agent: string | null
  reason: string | null
  details: string | null
}

function toEvent(row: AuditRow): AuditEvent & { seq: number } {
  return {
    id: String(row.seq),
    seq: row.seq,
    at: row.at,
    type: row.type,
    subject: row.subject,
    actor: row.actor,
    sessionId: row.session_id,
    ip: row.ip,
    userAgent: row.user_agent,
    reason: row.reason,
    details: row.details,
  }
}

/**
 * The listing's SQL for the filters a query has, so that each shape uses its index (an `:x IS NULL OR`
 * condition would keep SQLite from choosing one).
 */
function listing(query: AuditQuery, cursor: boolean): string {
  const conditions = [
    query.subject != null && "subject = :subject",
    query.type != null && "type = :type",
    query.since != null && "at >= :since",
    query.until != null && "at < :until",
    cursor && "(at, seq) < (:cursorAt, :cursorSeq)",
  ].filter((condition) => condition !== false)
  const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : ""
  return `SELECT * FROM audit ${where} ORDER BY at DESC, seq DESC LIMIT :take`
}

export interface SqliteAuditContext {
  connect(): Connection
  write<T>(work: (c: Connection) => T): T
  /** The store's now, inside the write's transaction. */
  time(c: Connection): number
}

export function sqliteAudit({ connect, write, time }: SqliteAuditContext): AuditLog {
  const prepared = new WeakMap<DatabaseSync, Map<string, StatementSync>>()
  function statement(db: DatabaseSync, sql: string): StatementSync {
    let statements = prepared.get(db)
    if (!statements) prepared.set(db, (statements = new Map()))
    let found = statements.get(sql)
    if (!found) statements.set(sql, (found = db.prepare(sql)))
    return found
  }

  return {
    async appendAudit(input) {
      return write((c) => {
        const row = statement(
          c.db,
          `INSERT INTO audit (at, type, subject, actor, session_id, ip, user_agent, reason, details)
           VALUES (:at, :type, :subject, :actor, :sessionId, :ip, :userAgent, :reason, :details) RETURNING *`,
        ).get({ ...input, at: time(c) }) as unknown as AuditRow
        const { seq: _, ...event } = toEvent(row)
        return event
      })
    },
    async listAudit(query) {
      const cursor = decodeAuditCursor(query.cursor)
      const c = connect()
      const parameters: Record<string, string | number> = { take: query.limit + 1 }
      if (query.subject != null) parameters.subject = query.subject
      if (query.type != null) parameters.type = query.type
      if (query.since != null) parameters.since = query.since
      if (query.until != null) parameters.until = query.until
      if (cursor) Object.assign(parameters, { cursorAt: cursor.at, cursorSeq: cursor.seq })
      const rows = statement(c.db, listing(query, cursor !== null)).all(parameters) as unknown as AuditRow[]
      return auditPage(rows.map(toEvent), query.limit)
    },
    async purgeAudit(before) {
      return write((c) => Number(statement(c.db, "DELETE FROM audit WHERE at < :before").run({ before }).changes))
    },
    async redactAudit(who) {
      // Read and written in one transaction, so that the rule stays redaction()'s, the one every store applies.
      return write((c) => {
        const person = { subject: who.subject, actor: who.actor }
        const rows = statement(c.db, "SELECT * FROM audit WHERE subject = :subject OR actor IN (:actor, :subject)").all(person) as unknown as AuditRow[]
        const update = statement(c.db, "UPDATE audit SET actor = :actor, ip = NULL, user_agent = NULL, details = :details WHERE seq = :seq")
        let changed = 0
        for (const row of rows) {
          const fields = redaction(toEvent(row), who)
          if (fields === null) continue
          update.run({ seq: row.seq, actor: fields.actor, details: fields.details })
          changed++
        }
        return changed
      })
    },
  }
}
