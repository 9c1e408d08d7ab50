// What the auth server asks of a store beyond the library's contract: its small records (users, clients), the
// counters of its rate limits and its audit log. Every built-in store has them; a store made only for
// createAuth need not.
import type { Page, Store } from "../core/store.ts"

/** A security event as the server records it (see docs/server.md for the types). Absent fields are null. */
export interface AuditInput {
  type: string
  /** The user the event is about. */
  subject: string | null
  /** Who did it: the user, an admin's subject, a client, or "revocable" for the server itself. */
  actor: string | null
  sessionId: string | null
  ip: string | null
  userAgent: string | null
  reason: string | null
  /** JSON text, opaque to the store. */
  details: string | null
}

/** A recorded event: `at` is the store's clock when it was appended; `id` is unique within the store. */
export interface AuditEvent extends AuditInput {
  id: string
  at: number
}

export interface AuditQuery {
  subject?: string | null | undefined
  type?: string | null | undefined
  /** Events at or after this time (ms since the epoch). */
  since?: number | null | undefined
  /** Events before this time. */
  until?: number | null | undefined
  cursor?: string | null | undefined
  limit: number
}

export interface Document {
  id: string
  /** JSON text, opaque to the store. */
  json: string
}

/**
 * A {@link Store} that also keeps documents and rate-limit windows: what `@revocable/server` runs on. The
 * conformance suite in `revocable/testing` checks these methods too when a store has them.
 */
export interface ServerStore extends Store {
  /** The auth server's small records (users, clients), as JSON text by collection and id. */
  getDocument(collection: string, id: string): Promise<string | null>
  /**
   * Writes a document, as a compare-and-set when `expected` is given: null writes only if the id is absent, a
   * string only if the current text equals it. Resolves false, writing nothing, when the condition fails.
   */
  putDocument(collection: string, id: string, json: string, expected?: string | null): Promise<boolean>
  deleteDocument(collection: string, id: string): Promise<boolean>
  /** A collection's documents in ascending id order, paged with an opaque cursor. */
  listDocuments(collection: string, query: { cursor?: string | null | undefined; limit: number }): Promise<Page<Document>>
  /**
   * Counts one attempt under `key` in a fixed window of `windowMs` that starts at the window's first attempt.
   * Resolves the attempts counted in the current window (this one included) and when it ends. Shared by every
   * instance on the same store (login rate limits).
   */
  hit(key: string, windowMs: number, now: number): Promise<{ count: number; resetAt: number }>
  /** Appends a security event, dated by the store's clock (so that every instance's events sort together). */
  appendAudit(event: AuditInput): Promise<AuditEvent>
  /** Events newest first (by time, then by order of appending), filtered, paged with an opaque cursor. */
  listAudit(query: AuditQuery): Promise<Page<AuditEvent>>
  /** Deletes the events dated before `before`; resolves how many went. Retention is the caller's choice. */
  purgeAudit(before: number): Promise<number>
  /**
   * Erases a person from the log (an account's deletion): on every event about `who.subject` or done by them
   * (actor `who.actor`, the name they acted under, or `who.subject`), `ip` and `userAgent` become null, the actor
   * `who.actor` becomes `who.subject`, and the keys `username` and `email` leave a details object. Events keep
   * their id, time, type and order. Resolves how many events changed: 0 when nothing is left to erase.
   */
  redactAudit(who: { subject: string; actor: string }): Promise<number>
}
