// The remote verifier's copy of the live revocations: the core Replica (same lookups as createAuth's), fed by
// the revocation feed's snapshots and changes instead of a store, and the cursor and contact time of that feed.
import { Replica } from "../core/replica.ts"
import { REVOCATION_KINDS, type RevocationKind } from "../core/store.ts"
import type { KeySet } from "./jwks.ts"
import type { FeedChange, FeedEntry } from "../core/revocation-feed.ts"

export type { FeedChange, FeedEntry }

export interface ReplicaListener {
  /** The feed proved us current: each snapshot, batch of changes and heartbeat that names our cursor. */
  contact(): void
  snapshot(size: number): void
  revoked(entry: FeedEntry): void
  unrevoked(change: { kind: RevocationKind; id: string }): void
}

export class RemoteReplica {
  readonly revocations = new Replica()
  readonly #keys: KeySet
  readonly #listener: ReplicaListener
  /** The feed position we hold everything up to; null before the first snapshot. */
  cursor: string | null = null
  /** When the feed last proved us current (ms); -Infinity before the first snapshot. */
  lastContact = -Infinity

  constructor(keys: KeySet, listener: ReplicaListener) {
    this.#keys = keys
    this.#listener = listener
  }

  /** Replaces everything with a snapshot; a kid retired before stays retired. */
  loadSnapshot(entries: unknown, cursor: string, at: number): void {
    if (!Array.isArray(entries)) throw new FeedError("The feed's snapshot has no revocations array.")
    for (const entry of entries) checkEntry(entry)
    const valid = entries as FeedEntry[]
    this.revocations.clear()
    this.revocations.reserveFor(valid)
    for (const entry of valid) {
      this.revocations.set(entry.kind, entry.id, entry.exp * 1000, entry.cutoff ?? 0)
      if (entry.kind === "key") this.#keys.retire(entry.id)
    }
    this.#advance(cursor, at)
    this.#listener.snapshot(valid.length)
  }

  applyChanges(changes: unknown, cursor: string, at: number): void {
    if (!Array.isArray(changes)) throw new FeedError("The feed's changes are not an array.")
    // Checked whole before any is applied: a batch this verifier cannot read leaves the replica as it was.
    for (const change of changes) checkChange(change)
    const valid = changes as FeedChange[]
    for (const change of valid) {
      if (change.op === "revoked") {
        this.revocations.set(change.kind, change.id, change.exp * 1000, change.cutoff ?? 0)
        if (change.kind === "key") this.#keys.retire(change.id)
      } else {
        this.revocations.delete(change.kind, change.id)
      }
    }
    this.#advance(cursor, at)
    for (const change of valid) {
      if (change.op === "revoked") this.#listener.revoked(entryOf(change))
      else this.#listener.unrevoked({ kind: change.kind, id: change.id })
    }
  }

  /** A heartbeat at `cursor`: contact only when it says we hold everything (a different cursor means we missed some). */
  heartbeat(cursor: string | undefined, at: number): boolean {
    if (this.cursor === null || (cursor !== undefined && cursor !== this.cursor)) return false
    this.lastContact = Math.max(this.lastContact, at)
    this.#listener.contact()
    return true
  }

  #advance(cursor: string, at: number): void {
    if (typeof cursor !== "string" || cursor === "") throw new FeedError("The feed's answer has no cursor.")
    this.cursor = cursor
    this.lastContact = Math.max(this.lastContact, at)
    this.#listener.contact()
  }
}

/** The feed sent something this verifier cannot read: it reconnects for a snapshot. */
export class FeedError extends Error {
  override name = "FeedError"
}

function entryOf(change: FeedEntry): FeedEntry {
  const entry: FeedEntry = { kind: change.kind, id: change.id, exp: change.exp }
  if (change.cutoff !== undefined) entry.cutoff = change.cutoff
  return entry
}

/** Throws unless `value` is a feed entry; checked in place, as it came from JSON.parse (no copy per entry). */
function checkEntry(value: unknown): void {
  const entry = value as Partial<FeedEntry> | null
  if (typeof entry !== "object" || entry === null) throw new FeedError("A feed entry is not an object.")
  if (!REVOCATION_KINDS.includes(entry.kind as RevocationKind)) throw new FeedError("A feed entry has an unknown kind.")
  if (typeof entry.id !== "string" || entry.id === "") throw new FeedError("A feed entry has no id.")
  if (typeof entry.exp !== "number" || !Number.isFinite(entry.exp)) throw new FeedError("A feed entry has no exp.")
  if (entry.kind === "subject" && (typeof entry.cutoff !== "number" || !Number.isSafeInteger(entry.cutoff))) {
    throw new FeedError("A subject entry of the feed has no cutoff.")
  }
}

function checkChange(value: unknown): void {
  const change = value as { op?: unknown; kind?: unknown; id?: unknown } | null
  if (typeof change !== "object" || change === null) throw new FeedError("A feed change is not an object.")
  if (change.op === "revoked") return checkEntry(change)
  if (change.op !== "unrevoked") throw new FeedError("A feed change has an unknown op.")
  if (!REVOCATION_KINDS.includes(change.kind as RevocationKind) || typeof change.id !== "string") throw new FeedError("A feed change has no kind or id.")
}
