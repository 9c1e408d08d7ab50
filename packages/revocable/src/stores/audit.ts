// What every store's audit log shares: the cursor over (time, sequence), and the in-memory log of memoryStore.
// Not part of the public surface.
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

export type AuditLog = Pick<ServerStore, "appendAudit" | "listAudit" | "purgeAudit">

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
  }
}
