// What the auth server asks of a store beyond the library's contract: its small records (users, clients) and
// the counters of its rate limits. Every built-in store has them; a store made only for createAuth need not.
import type { Page, Store } from "../core/store.ts"

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
}
