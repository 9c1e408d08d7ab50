// The change feed: the change log, read under every write for this store object's own subscribers and polled
// for what other connections committed.
import type { ChangeEvent, ChangeListener, Subscription } from "../../core/store.ts"
import { toEvent, type ChangeRow, type Connection } from "./statements.ts"
import { transaction } from "./transaction.ts"

/** What a read of the change log found, applied to the position only once its transaction has committed. */
export interface Pending {
  events: ChangeEvent[]
  position: number
}

export class Feed {
  readonly #pollInterval: number
  readonly #connection: () => Connection | null
  readonly #listeners = new Set<ChangeListener>()
  readonly #queue: ChangeEvent[] = []
  #draining = false
  /** The last change-log seq delivered (meaningful while there are listeners). */
  #position = 0
  /** `PRAGMA data_version` when the change log was last polled: unchanged means no other connection committed. */
  #dataVersion = -1
  #timer: NodeJS.Timeout | undefined

  constructor(pollInterval: number, connection: () => Connection | null) {
    this.#pollInterval = pollInterval
    this.#connection = connection
  }

  /** Reads, inside the caller's transaction, what the change log gained; null when nobody listens. */
  read(c: Connection): Pending | null {
    if (this.#listeners.size === 0) return null
    const events: ChangeEvent[] = []
    let from = this.#position
    const purged = (c.getMeta.get({ name: "purged_seq" }) as { value: number } | undefined)?.value ?? 0
    if (purged > from) {
      events.push({ type: "reset" })
      from = purged
    }
    for (const row of c.changesAfter.all({ seq: from }) as unknown as ChangeRow[]) {
      events.push(toEvent(row))
      from = row.seq
    }
    return { events, position: from }
  }

  /** Delivers a read once its transaction has committed. */
  accept(pending: Pending): void {
    this.#position = pending.position
    this.#deliver(pending.events)
  }

  subscribe(c: Connection, listener: ChangeListener): Subscription {
    if (this.#listeners.size === 0) {
      // data_version before the position: a commit in between is then read again, never skipped.
      this.#dataVersion = (c.dataVersion.get() as { data_version: number }).data_version
      this.#position = (c.lastSeq.get() as { seq: number }).seq
      this.#timer = setInterval(() => this.#poll(), this.#pollInterval)
      this.#timer.unref()
    } else {
      this.#poll()
    }
    this.#listeners.add(listener)
    let active = true
    return {
      close: async () => {
        if (!active) return
        active = false
        this.#listeners.delete(listener)
        if (this.#listeners.size === 0) clearInterval(this.#timer)
      },
    }
  }

  close(): void {
    clearInterval(this.#timer)
    this.#listeners.clear()
  }

  /**
   * Delivers what other connections committed, then a sync. The poll is synchronous, and its sync is stamped
   * before anything is read: a process paused at any point of it, or between two polls, resumes with a sync
   * older than the pause, so it counts itself stale until the next poll has read everything committed meanwhile.
   */
  #poll(): void {
    const c = this.#connection()
    if (c === null) return
    const at = Date.now()
    try {
      const version = (c.dataVersion.get() as { data_version: number }).data_version
      if (version !== this.#dataVersion) {
        const pending = transaction(c.db, "BEGIN", () => this.read(c))
        this.#dataVersion = version
        if (pending) this.accept(pending)
      }
      this.#deliver([{ type: "sync", at }])
    } catch {
      // No sync this time: if reads keep failing, the core sees the replica go stale and asks the store itself.
    }
  }

  /** Delivers in order even when a listener writes to this store while it is being called. */
  #deliver(events: readonly ChangeEvent[]): void {
    this.#queue.push(...events)
    if (this.#draining) return
    this.#draining = true
    try {
      for (let event = this.#queue.shift(); event !== undefined; event = this.#queue.shift()) {
        for (const listener of this.#listeners) {
          try {
            listener(event)
          } catch (error) {
            process.emitWarning(error instanceof Error ? error : String(error), { code: "REVOCABLE_LISTENER" })
          }
        }
      }
    } finally {
      this.#draining = false
    }
  }
}
