// The server's audit log (ServerStore): one table, indexed by time alone, by subject and by type.
import { auditPage, decodeAuditCursor, redaction, type AuditLog } from "../audit.ts"
import { PAGE, type Context } from "./connection.ts"
import type { AuditEvent, AuditQuery } from "../server-store.ts"

/** The migration step that creates the log (migrations.ts); `{schema}` is the quoted schema name. */
export const AUDIT_SCHEMA = `CREATE TABLE {schema}.audit (
     seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     at bigint NOT NULL,
     type text COLLATE "C" NOT NULL,
     subject text COLLATE "C",
     actor text,
     session_id text,
     ip text,
     user_agent text,
     reason text,
     details text
   );
   CREATE INDEX audit_at ON {schema}.audit (at, seq);
   CREATE INDEX audit_subject ON {schema}.audit (subject, at, seq);
   CREATE INDEX audit_type ON {schema}.audit (type, at, seq);`

interface AuditRow {
  seq: string
  at: string
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
    id: row.seq,
    seq: Number(row.seq),
    at: Number(row.at),
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

/** The listing's SQL and values for the filters a query has, so that each shape uses its index. */
function listing(s: string, query: AuditQuery, cursor: { at: number; seq: number } | null): [string, unknown[]] {
  const values: unknown[] = []
  const conditions: string[] = []
  const add = (condition: (n: number) => string, value: unknown) => {
    values.push(value)
    conditions.push(condition(values.length))
  }
  if (query.subject != null) add((n) => `subject = $${n}`, query.subject)
  if (query.type != null) add((n) => `type = $${n}`, query.type)
  if (query.since != null) add((n) => `at >= $${n}`, query.since)
  if (query.until != null) add((n) => `at < $${n}`, query.until)
  if (cursor) {
    values.push(cursor.at, cursor.seq)
    conditions.push(`(at, seq) < ($${values.length - 1}, $${values.length})`)
  }
  values.push(query.limit + 1)
  const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : ""
  return [`SELECT * FROM ${s}.audit ${where} ORDER BY at DESC, seq DESC LIMIT $${values.length}`, values]
}

/** `s` is the quoted schema name. */
export function postgresAudit({ pool, safely, clock }: Context, s: string): AuditLog {
  return {
    async appendAudit(input) {
      // Not sent twice on a lost connection: the event would be logged twice. Null $1: the server's clock (as
      // storeNow in statements.ts).
      const { rows } = await pool.query<AuditRow>(
        `INSERT INTO ${s}.audit (at, type, subject, actor, session_id, ip, user_agent, reason, details)
         VALUES (coalesce($1::bigint, floor(extract(epoch from clock_timestamp()) * 1000)::bigint), $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING *`,
        [clock?.() ?? null, input.type, input.subject, input.actor, input.sessionId, input.ip, input.userAgent, input.reason, input.details],
      )
      const { seq: _, ...event } = toEvent(rows[0] as AuditRow)
      return event
    },
    async listAudit(query) {
      const [sql, values] = listing(s, query, decodeAuditCursor(query.cursor))
      const { rows } = await safely((db) => db.query<AuditRow>(sql, values))
      return auditPage(rows.map(toEvent), query.limit)
    },
    async purgeAudit(before) {
      // In chunks, as the store's purge, so that no statement outlasts its bound on a large log.
      let removed = 0
      let count: number
      do {
        const chunk = `DELETE FROM ${s}.audit WHERE seq = ANY (ARRAY(SELECT seq FROM ${s}.audit WHERE at < $1 ORDER BY at LIMIT $2))`
        count = (await safely((db) => db.query(chunk, [before, PAGE]))).rowCount ?? 0
        removed += count
      } while (count === PAGE)
      return removed
    },
    async redactAudit(who) {
      // The actor has no index: the log is read in ranges of PAGE sequence numbers, so that no statement outlasts
      // its bound. The rule is redaction()'s, the one every store applies; the update writes only what changes.
      const range = `SELECT min(seq) AS low, max(seq) AS high FROM ${s}.audit`
      const bounds = (await safely((db) => db.query<{ low: string | null; high: string | null }>(range))).rows[0]
      if (!bounds || bounds.low === null || bounds.high === null) return 0
      let changed = 0
      for (let low = Number(bounds.low) - 1; low < Number(bounds.high); low += PAGE) {
        const { rows } = await safely((db) =>
          db.query<AuditRow>(`SELECT * FROM ${s}.audit WHERE seq > $1 AND seq <= $2 AND (subject = $3 OR actor IN ($4, $3))`, [low, low + PAGE, who.subject, who.actor]),
        )
        const writes = rows.flatMap((row) => {
          const fields = redaction(toEvent(row), who)
          return fields === null ? [] : [{ seq: row.seq, ...fields }]
        })
        if (writes.length === 0) continue
        const update = `UPDATE ${s}.audit AS a SET actor = r.actor, ip = NULL, user_agent = NULL, details = r.details
           FROM unnest($1::bigint[], $2::text[], $3::text[]) AS r (seq, actor, details)
           WHERE a.seq = r.seq AND (a.ip IS NOT NULL OR a.user_agent IS NOT NULL OR a.actor IS DISTINCT FROM r.actor OR a.details IS DISTINCT FROM r.details)`
        const values = [writes.map((write) => write.seq), writes.map((write) => write.actor), writes.map((write) => write.details)]
        changed += (await safely((db) => db.query(update, values))).rowCount ?? 0
      }
      return changed
    },
  }
}
