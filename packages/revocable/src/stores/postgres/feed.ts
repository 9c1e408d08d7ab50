// The change feed over LISTEN/NOTIFY: one dedicated connection per store, a heartbeat, reconnects with backoff.
import type { Client, Notification, QueryConfig } from "pg"
import type { ChangeEvent, ChangeListener, Subscription } from "../../core/store.ts"

/** What a notification turns into: an event, nothing, or an event to read from the store first. */
export type Decoded = ChangeEvent | null | Promise<ChangeEvent | null>

export interface FeedOptions {
  /**
   * Makes a new, unconnected client (never one from the pool: LISTEN holds its connection for good), with no
   * client-side query_timeout: its heartbeat is bounded here, where a late answer that arrived is still seen.
   */
  client(): Client
  /** The bound on LISTEN, the connection's first query (pg's query_timeout for that query alone); none when undefined. */
  listenTimeoutMs: number | undefined
  channel: string
  heartbeatMs: number
  decode(payload: string): Decoded
}

const FIRST_RETRY_MS = 50
const MAX_RETRY_MS = 2000

export class Feed {
  readonly #options: FeedOptions
  readonly #listeners = new Set<ChangeListener>()
  #client: Client | null = null
  #connecting: Promise<void> | null = null
  #connectedBefore = false
  #closed = false
  #retries = 0
  #retryTimer: NodeJS.Timeout | undefined
  #heartbeatTimer: NodeJS.Timeout | undefined
  /** performance.now() when the heartbeat in flight was sent (not Date, which tests mock: the sync's `at` is Date's). */
  #pingSentAt: number | null = null
  /** Events in commit order; a promise holds the place of one still being read from the store. */
  readonly #queue: Array<ChangeEvent | Promise<ChangeEvent | null>> = []
  #draining = false

  constructor(options: FeedOptions) {
    this.#options = options
  }

  async subscribe(listener: ChangeListener): Promise<Subscription> {
    if (this.#closed) throw new Error("The store is closed.")
    this.#listeners.add(listener)
    try {
      if (this.#client === null) await this.#connectNow()
    } catch (error) {
      this.#listeners.delete(listener)
      throw error
    }
    return {
      close: async () => {
        this.#listeners.delete(listener)
      },
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#retryTimer)
    clearInterval(this.#heartbeatTimer)
    this.#listeners.clear()
    await this.#connecting?.catch(() => undefined)
    const client = this.#client
    this.#client = null
    await client?.end().catch(() => undefined)
  }

  #connectNow(): Promise<void> {
    clearTimeout(this.#retryTimer)
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = null
    })
    return this.#connecting
  }

  async #connect(): Promise<void> {
    const client = this.#options.client()
    client.on("error", () => this.#lost(client))
    client.on("end", () => this.#lost(client))
    client.on("notification", (message: Notification) => {
      if (client === this.#client && message.channel === this.#options.channel) this.#receive(client, message.payload ?? "")
    })
    try {
      await client.connect()
      // pg honours a query's own query_timeout, which its types do not list.
      const listen: QueryConfig & { query_timeout?: number } = { text: `LISTEN "${this.#options.channel}"`, query_timeout: this.#options.listenTimeoutMs }
      await client.query(listen)
      if (this.#closed) throw new Error("The store is closed.")
    } catch (error) {
      client.end().catch(() => undefined)
      // Keep trying for subscribers already live; a first subscribe just fails.
      if (!this.#closed && this.#connectedBefore) this.#retryLater()
      throw error
    }
    this.#client = client
    this.#retries = 0
    this.#pingSentAt = null
    this.#heartbeatTimer = setInterval(() => this.#heartbeat(client), this.#options.heartbeatMs / 2)
    this.#heartbeatTimer.unref()
    // Whatever was published while no connection listened is lost: subscribers reload their snapshot.
    if (this.#connectedBefore) this.#enqueue({ type: "reset" })
    this.#connectedBefore = true
  }

  #retryLater(): void {
    const delay = Math.min(FIRST_RETRY_MS * 2 ** this.#retries, MAX_RETRY_MS) * (0.5 + Math.random() / 2)
    this.#retries++
    clearTimeout(this.#retryTimer)
    this.#retryTimer = setTimeout(() => void this.#connectNow().catch(() => undefined), delay)
    this.#retryTimer.unref()
  }

  /** The listening connection failed or closed: drop it and connect again. */
  #lost(client: Client): void {
    if (client !== this.#client) return
    this.#client = null
    clearInterval(this.#heartbeatTimer)
    client.end().catch(() => undefined)
    if (!this.#closed) this.#retryLater()
  }

  /**
   * A round trip on the listening connection: PostgreSQL sends the notifications it holds before answering,
   * so when the answer comes every change acknowledged before the question has been delivered. The sync is
   * stamped with when the question was sent, not when the answer is handled: a process paused in between (GC,
   * CPU steal, SIGSTOP) would otherwise count itself fresh as of a moment it knows nothing about.
   */
  #heartbeat(client: Client): void {
    const now = performance.now()
    const sentAt = this.#pingSentAt
    if (sentAt !== null) {
      // A connection that stops answering without closing (a network partition) is given up on. Decided once the
      // I/O that arrived meanwhile has been read (timers run before sockets are read): a process that was paused
      // or busy past the limit finds the answer waiting, and must not take its own delay for the server's.
      if (now - sentAt > Math.max(4 * this.#options.heartbeatMs, 5000)) {
        setImmediate(() => {
          if (this.#pingSentAt === sentAt) this.#lost(client)
        })
      }
      return
    }
    this.#pingSentAt = now
    const at = Date.now()
    client.query("SELECT 1").then(
      () => {
        if (client !== this.#client) return
        this.#pingSentAt = null
        this.#enqueue({ type: "sync", at })
      },
      () => this.#lost(client),
    )
  }

  #receive(client: Client, payload: string): void {
    const decoded = this.#options.decode(payload)
    if (decoded === null) return
    if (!(decoded instanceof Promise)) return this.#enqueue(decoded)
    // A change that could not be read is a change missed: start over, which ends in a reset.
    this.#enqueue(
      decoded.catch(() => {
        this.#lost(client)
        return null
      }),
    )
  }

  #enqueue(item: ChangeEvent | Promise<ChangeEvent | null>): void {
    this.#queue.push(item)
    if (!this.#draining) void this.#drain()
  }

  /** Delivers in order; synchronously while nothing is being read from the store. */
  async #drain(): Promise<void> {
    this.#draining = true
    try {
      for (let item = this.#queue.shift(); item !== undefined; item = this.#queue.shift()) {
        const event = item instanceof Promise ? await item : item
        if (event !== null) this.#dispatch(event)
      }
    } finally {
      this.#draining = false
    }
  }

  #dispatch(event: ChangeEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event)
      } catch (error) {
        // One listener's bug must not stop the feed for the others.
        process.emitWarning(error instanceof Error ? error : String(error), { code: "REVOCABLE_LISTENER" })
      }
    }
  }
}
