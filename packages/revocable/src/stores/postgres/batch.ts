// Group commit: revocations that arrive while a write is in flight wait for it, then are written together.
import { mergeRevocation, revocationKey, settleBatch, type Pending } from "../shared.ts"
import type { Revocation, RevocationInput } from "../../core/store.ts"

/**
 * Writes items one batch at a time. An item pushed while nothing is being written goes at once, alone; items
 * pushed during a write are written together right after it, at most `max` at a time. Each item's promise
 * settles with what `write` gives for it, or rejects with the batch's error.
 */
export class GroupCommit<I, O> {
  readonly #write: (items: I[]) => Promise<Array<O | Promise<O>>>
  readonly #max: number
  readonly #queue: Array<Pending<I, O>> = []
  #flushing: Promise<void> | null = null

  constructor(write: (items: I[]) => Promise<Array<O | Promise<O>>>, max: number) {
    this.#write = write
    this.#max = max
  }

  push(item: I): Promise<O> {
    const settled = new Promise<O>((resolve, reject) => this.#queue.push({ item, resolve, reject }))
    this.#flushing ??= this.#flush()
    return settled
  }

  /** Resolves once every item pushed so far has settled. */
  async idle(): Promise<void> {
    while (this.#flushing) await this.#flushing
  }

  async #flush(): Promise<void> {
    try {
      for (let batch = this.#queue.splice(0, this.#max); batch.length > 0; batch = this.#queue.splice(0, this.#max)) {
        await settleBatch(batch, this.#write)
      }
    } finally {
      this.#flushing = null
    }
  }
}

/** What one batch writes: each revocation once, each subject's generation moved once per revocation of it. */
export interface BatchPlan {
  /** One per kind and id, in order of first arrival, merged as successive calls would have merged them. */
  rows: RevocationInput[]
  /** Subject -> how many times the batch revokes it. */
  subjects: Map<string, number>
  /** Session id -> when it is marked revoked: the time of its first revocation in the batch. */
  sessions: Map<string, number>
}

export function planBatch(inputs: readonly RevocationInput[]): BatchPlan {
  const rows = new Map<string, Revocation>()
  const subjects = new Map<string, number>()
  const sessions = new Map<string, number>()
  for (const input of inputs) {
    const key = revocationKey(input.kind, input.id)
    rows.set(key, mergeRevocation(rows.get(key), input, 0))
    if (input.kind === "subject") subjects.set(input.id, (subjects.get(input.id) ?? 0) + 1)
    if (input.kind === "session" && !sessions.has(input.id)) sessions.set(input.id, input.createdAt)
  }
  return { rows: [...rows.values()].map(({ cutoff: _, ...row }) => row), subjects, sessions }
}

/**
 * Each caller's revocation, from the rows as committed (by kind and id). A subject revoked n times in the batch
 * moved its generation n times: its k-th caller gets its own details and the k-th of those cut-offs, the last
 * one being the committed row.
 */
export function batchResults(inputs: readonly RevocationInput[], committed: ReadonlyMap<string, Revocation>, plan: BatchPlan): Revocation[] {
  const seen = new Map<string, number>()
  return inputs.map((input) => {
    const row = committed.get(revocationKey(input.kind, input.id))
    if (row === undefined) throw new Error("PostgreSQL returned no row for a revocation of the batch.")
    if (input.kind !== "subject") return { ...row }
    const nth = (seen.get(input.id) ?? 0) + 1
    seen.set(input.id, nth)
    const cutoff = row.cutoff - ((plan.subjects.get(input.id) ?? nth) - nth)
    return { ...input, expiresAt: row.expiresAt, replicaUntil: row.replicaUntil, cutoff }
  })
}
