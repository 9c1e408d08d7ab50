// Named events with typed arguments, for the remote verifier's `on`: listeners run in the order they were added.

export interface Emitter<Events extends { [E in keyof Events]: unknown[] }> {
  emit<E extends keyof Events>(event: E, ...args: Events[E]): void
  /** Adds a listener; returns the function that removes it. */
  on<E extends keyof Events>(event: E, listener: (...args: Events[E]) => void): () => void
}

export function emitter<Events extends { [E in keyof Events]: unknown[] }>(): Emitter<Events> {
  // `never` parameters: every listener fits, whatever its event's arguments.
  const listeners = new Map<keyof Events, Set<(...args: never) => void>>()
  function emit<E extends keyof Events>(event: E, ...args: Events[E]): void {
    for (const listener of listeners.get(event) ?? []) {
      try {
        ;(listener as (...args: Events[E]) => void)(...args)
      } catch (error) {
        // A listener's bug must not stop the feed.
        console.error(error)
      }
    }
  }
  function on<E extends keyof Events>(event: E, listener: (...args: Events[E]) => void): () => void {
    let set = listeners.get(event)
    if (set === undefined) listeners.set(event, (set = new Set()))
    set.add(listener)
    return () => void set.delete(listener)
  }
  return { emit, on }
}
