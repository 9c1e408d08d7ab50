// Keeps the replica in step with the store: a snapshot, the change feed on top of it, a reload after each
// reset, and whether all that makes it fresh enough for verify to answer alone.
import type { Events } from "./events.ts"
import { Replica } from "./replica.ts"
import type { ReplicaStatus } from "./auth.ts"
import { readSnapshot, type ChangeEvent, type Clock, type Store, type Subscription } from "./store.ts"

export interface SyncOptions {
  store: Store
  replica: Replica
  clock: Clock
  maxStalenessMs: number
  events: Events
  /** Called when the feed says the keys changed, or may have (a reset). */
  onKeys: () => void
}

export class ReplicaSync {
  readonly #store: Store
  readonly #replica: Replica
  readonly #clock: Clock
  readonly #maxStalenessMs: number
  readonly #events: Events
  readonly #onKeys: () => void
  #subscription: Subscription | undefined
  #syncedAt = 0
  /** Changes that arrive while a snapshot loads wait here, then replay on top of it. */
  #pending: ChangeEvent[] | null = null
  #resyncing: Promise<void> | undefined
  /** Resets announced by the feed, and how many of them a loaded snapshot covers: stale until they match. */
  #resets = 0
  #resetsLoaded = 0

  constructor(options: SyncOptions) {
    this.#store = options.store
    this.#replica = options.replica
    this.#clock = options.clock
    this.#maxStalenessMs = options.maxStalenessMs
    this.#events = options.events
    this.#onKeys = options.onKeys
  }

  /** Subscribes, then loads the snapshot: a change committed between the two is in one or the other. */
  async start(): Promise<void> {
    this.#subscription = await this.#store.subscribe((event) => this.#onChange(event))
    await this.#resync()
  }

  isFresh(now: number): boolean {
    return this.#resetsLoaded === this.#resets && (this.#store.heartbeatMs === 0 || now - this.#syncedAt <= this.#maxStalenessMs)
  }

  status(now: number): ReplicaStatus {
    return {
      entries: this.#replica.size,
      fresh: this.isFresh(now),
      stalenessMs: this.#store.heartbeatMs === 0 ? 0 : Math.max(0, now - this.#syncedAt),
      resets: this.#resets,
    }
  }

  /** Waits for a reload under way, then stops the feed. */
  async close(): Promise<void> {
    await this.#resyncing
    await this.#subscription?.close()
  }

  #onChange(event: ChangeEvent): void {
    if (event.type === "reset") {
      this.#resets++
      void this.#resyncSoon()
      // The changes missed may include keys: reload them as a `keys` change would.
      this.#apply({ type: "keys" })
    } else if (this.#pending !== null) {
      this.#pending.push(event)
    } else {
      this.#apply(event)
    }
  }

  #apply(event: ChangeEvent): void {
    switch (event.type) {
      case "revoked":
        this.#replica.add(event.revocation)
        this.#events.emit("revoked", event.revocation)
        break
      case "unrevoked":
        this.#replica.delete(event.kind, event.id)
        this.#events.emit("unrevoked", { kind: event.kind, id: event.id })
        break
      case "keys":
        this.#onKeys()
        break
      case "sync":
        // A heartbeat after a reset proves the feed is back, not that the missed changes are loaded.
        if (this.#resetsLoaded === this.#resets) this.#syncedAt = Math.max(this.#syncedAt, event.at)
        else if (this.#resyncing === undefined) void this.#resyncSoon()
        break
    }
  }

  async #resync(): Promise<void> {
    const readAt = this.#clock()
    const covers = this.#resets
    // Stryker disable next-line ArrayDeclaration: an element that is no event has no type, and #apply ignores it
    this.#pending = []
    try {
      // Loaded beside the replica in use, which stays whole (for fail-open verifies) until the snapshot is all read.
      const next = new Replica()
      await readSnapshot(this.#store, readAt, (page) => next.addAll(page))
      this.#replica.replaceWith(next)
      this.#resetsLoaded = Math.max(this.#resetsLoaded, covers)
      for (const event of this.#pending) this.#apply(event)
      this.#syncedAt = readAt
    } finally {
      this.#pending = null
    }
  }

  /** After a reconnect: reload the snapshot, once at a time, again if another reset came meanwhile. */
  #resyncSoon(): Promise<void> {
    const previous = this.#resyncing ?? Promise.resolve()
    const next: Promise<void> = previous
      .then(() => this.#resync())
      .catch((error: unknown) => this.#events.failed(error))
      .finally(() => {
        if (this.#resyncing === next) this.#resyncing = undefined
      })
    this.#resyncing = next
    return next
  }
}
