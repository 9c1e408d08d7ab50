// Starting once (again after a failed start), holding operations until started, and refusing a restart once closed.

export class Lifecycle {
  /** True once a start has succeeded: from then on operations run at once, and verify without an await. */
  started = false
  #closed = false
  #starting: Promise<void> | undefined
  readonly #start: () => Promise<void>
  readonly #failure: (cause: unknown) => Error

  /** `failure` makes the error a failed start rejects with; `ready()` may then be called again. */
  constructor(start: () => Promise<void>, failure: (cause: unknown) => Error) {
    this.#start = start
    this.#failure = failure
  }

  /** Starts, once for every caller; a failed start is forgotten, so that the next call tries again. */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("This auth instance is closed."))
    this.#starting ??= this.#run().catch((cause: unknown) => {
      this.#starting = undefined
      throw this.#failure(cause)
    })
    return this.#starting
  }

  /** Runs `operation` once started: at once when started already (no await), else after ready(). */
  run<T>(operation: () => Promise<T>): Promise<T> {
    return this.started ? operation() : this.ready().then(operation)
  }

  /** Refuses ready() from now on; resolves once a start under way has settled. False if closed already. */
  async close(): Promise<boolean> {
    if (this.#closed) return false
    this.#closed = true
    await this.#starting?.catch(() => undefined)
    return true
  }

  async #run(): Promise<void> {
    await this.#start()
    this.started = true
  }
}
