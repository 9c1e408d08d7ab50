// Pieces every store implementation shares; not part of the public surface.
import { AuthError } from "../errors.ts"
import { isStorable, type Revocation, type RevocationInput, type RevocationKind, type RevocationQuery } from "../core/store.ts"

export function revocationKey(kind: RevocationKind, id: string): string {
  return `${kind}:${id}`
}

/**
 * Revoking again is idempotent: the first reason, actor and time stand and the entry lives as long as the
 * longer of the two, in the store and in replicas. A subject revoked again is a new cut-off, so it takes the
 * new call's details. Replicas never keep an entry past its `expiresAt`.
 */
export function mergeRevocation(existing: Revocation | undefined, input: RevocationInput, cutoff: number): Revocation & { replicaUntil: number } {
  const expiresAt = Math.max(input.expiresAt, existing?.expiresAt ?? 0)
  const replicaUntil = Math.max(replicaUntilOf(input), existing ? replicaUntilOf(existing) : 0)
  const merged = !existing || input.kind === "subject" ? input : existing
  return { ...merged, cutoff, expiresAt, replicaUntil }
}

/** When replicas may let go of this revocation: its `replicaUntil`, never after its `expiresAt`. */
export function replicaUntilOf(input: RevocationInput): number {
  return Math.min(input.replicaUntil ?? input.expiresAt, input.expiresAt)
}

/** Whether one stored revocation revokes the token a query describes. */
export function rowMatchesQuery(row: Revocation, query: RevocationQuery): boolean {
  if (row.expiresAt <= query.now) return false
  switch (row.kind) {
    case "token":
      return row.id === query.jti
    case "session":
      return row.id === query.sid
    case "subject":
      return row.id === query.subject && query.gen < row.cutoff
    case "key":
      return row.id === query.kid
  }
}

/** Whether a stored hash equals a presented one, in constant time. */
export { equalsInConstantTime as hashEquals } from "../core/compare.ts"

/** Cursors are opaque to callers: a base64url-encoded position that each store interprets. */
export function encodeCursor(position: number | string): string {
  return Buffer.from(String(position)).toString("base64url")
}

export function decodeCursor(cursor: string | null | undefined): number | null {
  if (cursor === undefined || cursor === null || cursor === "") return null
  const text = Buffer.from(cursor, "base64url").toString()
  const position = Number(text)
  if (!/^\d{1,15}$/.test(text) || !Number.isSafeInteger(position)) throw new AuthError("invalid_request", "Invalid cursor.")
  return position
}

/** Cursors over ids (documents) carry the last id seen. */
export function decodeIdCursor(cursor: string | null | undefined): string | null {
  if (cursor === undefined || cursor === null || cursor === "") return null
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new AuthError("invalid_request", "Invalid cursor.")
  const id = Buffer.from(cursor, "base64url").toString()
  // No store made it, and PostgreSQL would refuse it (an outage, were it sent).
  if (!isStorable(id)) throw new AuthError("invalid_request", "Invalid cursor.")
  return id
}

/** A caller waiting on a batched write (the PostgreSQL store's group commit, the Redis store's batches). */
export interface Pending<I, O> {
  item: I
  resolve(value: O | Promise<O>): void
  reject(error: unknown): void
}

/**
 * Writes one batch and settles each caller with what `write` gives for its item (a rejected promise rejects that
 * caller alone), or every caller with the batch's error.
 */
export async function settleBatch<I, O>(batch: ReadonlyArray<Pending<I, O>>, write: (items: I[]) => Promise<Array<O | Promise<O>>>): Promise<void> {
  try {
    const results = await write(batch.map((pending) => pending.item))
    for (const [index, pending] of batch.entries()) {
      const result = results[index]
      if (result === undefined) pending.reject(new Error("The store returned no result for a write of the batch."))
      else pending.resolve(result)
    }
  } catch (error) {
    for (const pending of batch) pending.reject(error)
  }
}

/**
 * Reads page after page, asking for the next (`next` of this page; null after the last) before handing this one
 * over, so that the store reads it meanwhile. A hand-over that throws ends the read: the page asked for
 * meanwhile is not waited for.
 */
export async function readAhead<P>(first: Promise<P>, next: (page: P) => Promise<P> | null, handOver: (page: P) => void): Promise<void> {
  for (let pending: Promise<P> | null = first; pending !== null; ) {
    const page: P = await pending
    pending = next(page)
    try {
      handOver(page)
    } catch (error) {
      pending?.catch(() => undefined)
      throw error
    }
  }
}
