// The periodic purge: expired revocations and sessions, and managed keys retired longer than any token lives;
// and, more often, the replica's own pruning.
import type { Events } from "./events.ts"
import type { Replica } from "./replica.ts"
import type { Clock, Store } from "./store.ts"

export interface HousekeepingOptions {
  store: Store
  replica: Replica
  clock: Clock
  /** Null: no timer (`revocable purge` does it). */
  intervalMs: number | null
  /** Whether keys are managed in the store, so that retired ones are deleted from it. */
  managedKeys: boolean
  /** How long after its retirement no token a key signed can still be accepted or need a revocation. */
  longestLifeMs: number
  events: Events
}

/**
 * How often the replica lets go of what can no longer match a token, whatever the purge interval: it is local
 * memory, so keeping it near its floor (revocations/s x access lifetime, docs/scale.md) costs no store call.
 */
const REPLICA_PRUNE_MS = 60_000

export class Housekeeping {
  readonly #options: HousekeepingOptions
  #timer: NodeJS.Timeout | undefined
  #pruner: NodeJS.Timeout | undefined

  constructor(options: HousekeepingOptions) {
    this.#options = options
  }

  start(): void {
    const { intervalMs, replica, clock } = this.#options
    this.#pruner = setInterval(() => replica.prune(clock()), Math.min(REPLICA_PRUNE_MS, intervalMs ?? REPLICA_PRUNE_MS))
    this.#pruner.unref()
    if (intervalMs === null) return
    this.#timer = setInterval(() => void this.purge(), intervalMs)
    // A purge is never a reason to keep the process alive.
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    clearInterval(this.#pruner)
  }

  /** Never rejects: a failure is reported with `store-unavailable`, and the next purge tries again. */
  async purge(): Promise<void> {
    const { store, replica, events } = this.#options
    const now = this.#options.clock()
    replica.prune(now)
    try {
      await store.purge(now)
      if (this.#options.managedKeys) {
        for (const key of await store.listKeys()) {
          if (key.retiredAt !== null && key.retiredAt + this.#options.longestLifeMs < now) await store.deleteKey(key.kid)
        }
      }
    } catch (error) {
      events.failed(error)
    }
  }
}
