// What every store's audit log shares: the cursor over (time, sequence), the redaction of a person's data, and
// the in-memory log of memoryStore. Not part of the public surface.
import { AuthError } from "../errors.ts"
import type { Clock, Page } from "../core/store.ts"
import type { AuditEvent, AuditInput, AuditQuery, ServerStore } from "./server-store.ts"

/** Where a page of the log ended: the last event's time and sequence. Events are ordered newest first by both. */
export interface AuditPosition {
  at: number
  seq: number
}

export function encodeAuditCursor(position: AuditPosition): string {
  return Buffer.from(`${position.at}.${position.seq}`).toString("base64url")
}

export function decodeAuditCursor(cursor: string | null | undefined): AuditPosition | null {
  if (cursor === undefined || cursor === null || cursor === "") return null
  const match = /^(\d{1,15})\.(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString())
  if (!match) throw new AuthError("invalid_request", "Invalid cursor.")
  return { at: Number(match[1]), seq: Number(match[2]) }
}

/** Whether an event at `position` comes after the cursor in newest-first order (is older than the cursor). */
export function isPast(position: AuditPosition, cursor: AuditPosition | null): boolean {
  return cursor === null || position.at < cursor.at || (position.at === cursor.at && position.seq < cursor.seq)
}

/** Whether an event passes the query's filters (not its cursor). */
export function auditMatches(event: AuditEvent, query: AuditQuery): boolean {
  return (
    (query.subject == null || event.subject === query.subject) &&
    (query.type == null || event.type === query.type) &&
    (query.since == null || event.at >= query.since) &&
    (query.until == null || event.at < query.until)
  )
}

/** The page of `rows` (newest first, one more than the limit when there is a next page). */
export function auditPage(rows: readonly (AuditEvent & { seq: number })[], limit: number): Page<AuditEvent> {
  const page = rows.slice(0, limit)
  const last = page.at(-1)
  return {
    items: page.map(({ seq: _, ...event }) => event),
    next: rows.length > limit && last ? encodeAuditCursor(last) : null,
  }
}

/** Whose personal data redactAudit erases: a user's subject, and the name they acted under. */
export interface AuditPerson {
  subject: string
  actor: string
}

/** The fields of an event that redactAudit reads, and those it rewrites. */
export type RedactableEvent = Pick<AuditEvent, "subject" | "actor" | "ip" | "userAgent" | "details">
export type RedactedFields = Pick<AuditEvent, "actor" | "ip" | "userAgent" | "details">

/** The keys of a details object that name a person. */
const PERSONAL_KEYS = ["username", "email"]

function withoutPersonalKeys(details: string | null): string | null {
  if (details === null) return null
  let parsed: unknown
  try {
    parsed = JSON.parse(details)
  } catch {
    return details
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return details
  const object = parsed as Record<string, unknown>
  if (!PERSONAL_KEYS.some((key) => Object.hasOwn(object, key))) return details
  for (const key of PERSONAL_KEYS) delete object[key]
  return JSON.stringify(object)
}

/**
 * The fields to write over an event of `who`'s (about them, or done under their name or subject), or null when
 * the event is someone else's or already redacted. The one rule of every store's redactAudit.
 */
export function redaction(event: RedactableEvent, who: AuditPerson): RedactedFields | null {
  const byThem = event.actor === who.actor || event.actor === who.subject
  if (event.subject !== who.subject && !byThem) return null
  const fields = { actor: event.actor === who.actor ? who.subject : event.actor, ip: null, userAgent: null, details: withoutPersonalKeys(event.details) }
  const unchanged = fields.actor === event.actor && event.ip === null && event.userAgent === null && fields.details === event.details
  return unchanged ? null : fields
}

export type AuditLog = Pick<ServerStore, "appendAudit" | "listAudit" | "purgeAudit" | "redactAudit">

/** memoryStore's log: an array in order of appending, which is also time order by its one clock. */
export function memoryAudit(clock: Clock): AuditLog {
  const events: (AuditEvent & { seq: number })[] = []
  let seq = 0
  return {
    async appendAudit(input: AuditInput) {
      const event = { ...input, id: String(++seq), at: clock(), seq }
      events.push(event)
      const { seq: _, ...stored } = event
      return stored
    },
    async listAudit(query) {
      const cursor = decodeAuditCursor(query.cursor)
      const rows: (AuditEvent & { seq: number })[] = []
      const newestFirst = [...events].sort((a, b) => b.at - a.at || b.seq - a.seq)
      for (const event of newestFirst) {
        if (rows.length > query.limit) break
        if (isPast(event, cursor) && auditMatches(event, query)) rows.push(event)
      }
      return auditPage(rows, query.limit)
    },
    async purgeAudit(before) {
      const kept = events.filter((event) => event.at >= before)
      const removed = events.length - kept.length
      events.splice(0, events.length, ...kept)
      return removed
    },
    async redactAudit(who) {
      let changed = 0
      for (const event of events) {
        const fields = redaction(event, who)
        if (fields === null) continue
        Object.assign(event, fields)
        changed++
      }
      return changed
    },
  }
}
