// The instance's events, and the one way a failed store call is reported and answered: store_unavailable.
import { EventEmitter } from "node:events"
import { AuthError } from "../errors.ts"
import type { AuthEvents } from "./auth.ts"

export class Events {
  readonly #emitter = new EventEmitter()

  on<E extends keyof AuthEvents>(event: E, listener: (...args: AuthEvents[E]) => void): () => void {
    this.#emitter.on(event, listener as (...args: unknown[]) => void)
    return () => this.#emitter.off(event, listener as (...args: unknown[]) => void)
  }

  emit<E extends keyof AuthEvents>(event: E, ...args: AuthEvents[E]): void {
    try {
      this.#emitter.emit(event, ...args)
    } catch (error) {
      // A listener's bug must not break verify or the feed; report it where Node reports stray errors.
      process.emitWarning(error instanceof Error ? error : String(error), { code: "REVOCABLE_LISTENER" })
    }
  }

  /** A store failure as a caller sees it: announced with `store-unavailable`, answered with store_unavailable. */
  unavailable(cause: unknown): AuthError {
    if (cause instanceof AuthError) return cause
    this.emit("store-unavailable", { error: cause, failOpen: false })
    return new AuthError("store_unavailable", undefined, { cause })
  }

  /** Runs a store operation; its failure rejects as {@link unavailable}. */
  async fromStore<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (cause) {
      throw this.unavailable(cause)
    }
  }

  /** Announces a failure that no caller waits on (a background reload or purge). */
  failed(error: unknown): void {
    this.emit("store-unavailable", { error, failOpen: false })
  }
}
