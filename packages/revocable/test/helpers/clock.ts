// A clock that moves only when told: pass it to createAuth and to the store ({ clock }) instead of faking Date.
import type { Clock } from "../../src/core/store.ts"

export interface ManualClock extends Clock {
  /** Moves the time forward by `ms`. */
  tick(ms: number): void
}

export function manualClock(start: number): ManualClock {
  let now = start
  const clock = () => now
  clock.tick = (ms: number) => {
    now += ms
  }
  return clock
}
