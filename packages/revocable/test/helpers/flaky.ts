// A store whose backend can be cut off: wraps the memory store, failing every call while `down` is set.
import { memoryStore } from "../../src/stores/memory.ts"
import type { ChangeListener, Clock } from "../../src/core/store.ts"
import type { ServerStore } from "../../src/stores/server-store.ts"

export interface FlakyStore extends ServerStore {
  down: boolean
  /** Delivers a heartbeat to subscribers, as a healthy remote feed would: fresh as of now. */
  heartbeat(): void
  /** Tells subscribers changes may have been missed, as a feed does after reconnecting. */
  reset(): void
}

/**
 * `heartbeatMs` > 0 makes the feed asynchronous in the core's eyes, so the replica can go stale. `clock` dates
 * the sessions and the heartbeats: pass createAuth's, so that staleness is measured in one time.
 */
export function flakyStore(heartbeatMs = 1000, clock: Clock = () => Date.now()): FlakyStore {
  const inner = memoryStore({ clock })
  const listeners = new Set<ChangeListener>()
  const wrapper = { name: "flaky", heartbeatMs, down: false } as FlakyStore
  for (const [name, value] of Object.entries(inner)) {
    if (typeof value !== "function") continue
    ;(wrapper as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      if (wrapper.down && name !== "close") throw new Error("connect ECONNREFUSED 127.0.0.1:1")
      if (name === "subscribe") listeners.add(args[0] as ChangeListener)
      return (value as (...a: unknown[]) => unknown)(...args)
    }
  }
  wrapper.heartbeat = () => {
    for (const listener of listeners) listener({ type: "sync", at: clock() })
  }
  wrapper.reset = () => {
    for (const listener of listeners) listener({ type: "reset" })
  }
  return wrapper
}
