// The local copy of live revocations that every verify reads, so that the hot path does no I/O.
import { IdSet } from "./idset.ts"
import type { Revocation, RevocationKind } from "./store.ts"

export class Replica {
  #tokens = new IdSet()
  #sessions = new IdSet()
  #subjects = new Map<string, { cutoff: number; expiresAt: number }>()
  #keys = new Map<string, number>()

  /** Whether a token with these claims, signed by `kid`, is revoked. */
  isRevoked(jti: string, sid: string, subject: string, gen: number, kid: string): boolean {
    // Stryker disable next-line ConditionalExpression,EqualityOperator: the size test only spares a lookup when no key is retired
    if (this.#tokens.has(jti) || this.#sessions.has(sid) || (this.#keys.size > 0 && this.#keys.has(kid))) return true
    // Stryker disable next-line ConditionalExpression: a shortcut: with no cut-offs the lookup below finds none
    if (this.#subjects.size === 0) return false
    const cut = this.#subjects.get(subject)
    return cut !== undefined && gen < cut.cutoff
  }

  isKeyRetired(kid: string): boolean {
    return this.#keys.has(kid)
  }

  get size(): number {
    return this.#tokens.size + this.#sessions.size + this.#subjects.size + this.#keys.size
  }

  /** Keeps the entry until its `replicaUntil` (its `expiresAt` when absent): the last moment a token it matches is valid. */
  add(revocation: Revocation): void {
    this.set(revocation.kind, revocation.id, revocation.replicaUntil ?? revocation.expiresAt, revocation.cutoff)
  }

  /** As `add`, from the parts a revocation feed carries: held until `expiresAt`; `cutoff` counts for subjects only. */
  set(kind: RevocationKind, id: string, expiresAt: number, cutoff: number): void {
    if (kind === "subject") this.#subjects.set(id, { cutoff, expiresAt })
    else this.#map(kind).set(id, expiresAt)
  }

  delete(kind: RevocationKind, id: string): void {
    if (kind === "subject") this.#subjects.delete(id)
    else this.#map(kind).delete(id)
  }

  /** Adds many at once (a snapshot, or a page of one), the tables sized once for them, not grown on the way. */
  addAll(revocations: readonly Revocation[]): void {
    // Stryker disable next-line all: sizing only: the same entries load whatever room was made for them
    this.reserveFor(revocations)
    for (const revocation of revocations) this.add(revocation)
  }

  // Stryker disable all: sizing only: the same entries load whatever room was made for them
  /** Makes room at once for the token and session entries among these (a snapshot about to be added). */
  reserveFor(entries: readonly { kind: RevocationKind }[]): void {
    let tokens = 0
    let sessions = 0
    for (const { kind } of entries) {
      if (kind === "token") tokens++
      if (kind === "session") sessions++
    }
    this.#tokens.reserve(tokens)
    this.#sessions.reserve(sessions)
  }
  // Stryker restore all

  /** Takes `next`'s entries in place of its own, at once: a snapshot loads beside the replica in use, kept whole until then. */
  replaceWith(next: Replica): void {
    this.#tokens = next.#tokens
    this.#sessions = next.#sessions
    this.#subjects = next.#subjects
    this.#keys = next.#keys
  }

  clear(): void {
    this.#tokens.clear()
    this.#sessions.clear()
    this.#subjects.clear()
    this.#keys.clear()
  }

  /** Forgets entries that can no longer match a valid token. */
  prune(now: number): void {
    this.#tokens.prune(now)
    this.#sessions.prune(now)
    for (const [id, expiresAt] of this.#keys) if (expiresAt <= now) this.#keys.delete(id)
    for (const [id, { expiresAt }] of this.#subjects) if (expiresAt <= now) this.#subjects.delete(id)
  }

  #map(kind: Exclude<RevocationKind, "subject">): IdSet | Map<string, number> {
    return kind === "token" ? this.#tokens : kind === "session" ? this.#sessions : this.#keys
  }
}
