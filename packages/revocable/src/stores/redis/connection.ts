// The store's connections to Redis: every command bounded by the store's timeout, a choice between failing
// at once and waiting for a reconnect while Redis is unreachable, and the clients the store makes itself.

/** The parts of a node-redis client (`createClient`) the store uses. */
export interface RedisClientLike {
  readonly isOpen: boolean
  readonly isReady: boolean
  readonly options?: { socket?: object } | undefined
  connect(): Promise<unknown>
  sendCommand(args: string[], options?: { abortSignal?: AbortSignal }): Promise<unknown>
  duplicate(overrides?: object): RedisClientLike
  on(event: "error", listener: (error: Error) => void): unknown
  on(event: "ready", listener: () => void): unknown
  off(event: "error", listener: (error: Error) => void): unknown
  off(event: "ready", listener: () => void): unknown
  close(): Promise<unknown>
  destroy(): unknown
}

/** The parts of a node-redis cluster client (`createCluster`) the store uses. */
export interface RedisClusterLike {
  readonly isOpen: boolean
  readonly masters: readonly object[]
  connect(): Promise<unknown>
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[], options?: { abortSignal?: AbortSignal }): Promise<unknown>
  nodeClient(node: object): Promise<{ sendCommand(args: string[]): Promise<unknown> }>
  duplicate(overrides?: object): RedisClusterLike
  on(event: "error", listener: (error: Error) => void): unknown
  off(event: "error", listener: (error: Error) => void): unknown
  close(): Promise<unknown>
  destroy(): unknown
}

/** Where the store's data is: a URL, for a client of the store's own, or a client or cluster client of yours. */
export type RedisTarget = { url: string } | { client: RedisClientLike | RedisClusterLike }

/** Redis did not answer in time. The command may still run (it may have been sent), so it is never retried. */
export class RedisTimeoutError extends Error {
  override name = "RedisTimeoutError"
}

export interface Connection {
  /**
   * Sends one command; rejects with a {@link RedisTimeoutError} when it is not answered within `timeoutMs`.
   * While disconnected it fails at once, or with `wait` waits for the reconnect within the same time.
   */
  send(args: string[], timeoutMs: number, wait: boolean): Promise<unknown>
  close(): Promise<void>
}

/**
 * Runs `work` with a deadline: rejects with a {@link RedisTimeoutError} after `timeoutMs`, whatever `work` is
 * doing. `work` gets a signal that aborts then.
 *
 * The deadline is declared only once the I/O that arrived meanwhile has been read (the timer's phase of the event
 * loop comes before the one that reads sockets): a process that was busy past it, serializing a large answer or
 * paused, finds Redis's reply waiting, and must not take its own delay for Redis's and drop the connection.
 */
export function bounded<T>(timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  let declare: NodeJS.Immediate | undefined
  const timer = setTimeout(() => {
    declare = setImmediate(() => controller.abort(new RedisTimeoutError(`Redis did not answer within ${timeoutMs} ms.`)))
  }, timeoutMs)
  const expired = new Promise<never>((_, reject) => {
    controller.signal.addEventListener("abort", () => reject(controller.signal.reason as Error), { once: true })
  })
  return Promise.race([work(controller.signal), expired]).finally(() => {
    clearTimeout(timer)
    clearImmediate(declare)
  })
}

/**
 * Whether a failed command may be sent again when it is idempotent: its connection broke or was not there.
 * Not after a timeout (the command may be running: a stalled Redis would double the wait), nor after an
 * answer from Redis (it would answer the same).
 */
export function isConnectionError(error: unknown): boolean {
  for (let proto = error; proto instanceof Error; proto = Object.getPrototypeOf(proto) as unknown) {
    // node-redis's classes, by name: the application's copy of the package may not be ours.
    const name = proto.constructor.name
    if (name === "RedisTimeoutError" || name === "TimeoutError" || name === "ErrorReply") return false
  }
  return error instanceof Error
}

export function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("NOSCRIPT")
}

/** A client's connection; `ending` says what closing the store does to the client. */
export function standalone(client: RedisClientLike, ending: "keep" | "close" | "destroy", closeTimeoutMs: number): Connection {
  let open = true
  return {
    send(args, timeoutMs, wait) {
      return bounded(timeoutMs, async (signal) => {
        if (!client.isReady) {
          if (!wait || !client.isOpen) throw new Error("Redis is not connected.")
          await ready(client, signal)
        }
        // Our deadline drops a command still queued in the client, so it never runs late; one already written
        // keeps its place for the reply, which keeps replies and commands paired.
        return client.sendCommand(args, { abortSignal: signal })
      })
    },
    async close() {
      if (!open) return
      open = false
      if (ending === "keep") unguard(client)
      else if (ending === "close" && client.isReady) await bounded(closeTimeoutMs, () => client.close()).catch(() => client.destroy())
      else client.destroy()
    },
  }
}

/** A cluster's connection: the cluster routes each command and queues it while its node reconnects. */
export function clustered(cluster: RedisClusterLike, key: string, ending: "keep" | "destroy"): Connection {
  let open = true
  return {
    send(args, timeoutMs) {
      return bounded(timeoutMs, (signal) => cluster.sendCommand(key, false, args, { abortSignal: signal }))
    },
    async close() {
      if (!open) return
      open = false
      if (ending === "keep") unguard(cluster)
      else cluster.destroy()
    },
  }
}

function ready(client: RedisClientLike, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = () => {
      client.off("ready", onReady)
      signal.removeEventListener("abort", onAbort)
    }
    const onReady = () => {
      settle()
      resolve()
    }
    const onAbort = () => {
      settle()
      reject(signal.reason as Error)
    }
    client.on("ready", onReady)
    signal.addEventListener("abort", onAbort, { once: true })
  })
}

/** The store's connection for its commands: a client of its own for a URL, else the one given, connected if need be. */
export async function mainConnection(target: RedisTarget, base: string, commandTimeoutMs: number): Promise<Connection> {
  if ("url" in target) {
    return standalone(await ownClient((socket) => createClient(target.url, socket), commandTimeoutMs), "close", commandTimeoutMs)
  }
  const client = target.client
  guard(client)
  try {
    if (!client.isOpen) await bounded(commandTimeoutMs, () => client.connect())
  } catch (error) {
    unguard(client)
    throw error
  }
  return isCluster(client) ? clustered(client, base, "keep") : standalone(client, "keep", commandTimeoutMs)
}

/** The feed's own connection: its blocking read would hold up every command queued behind it. */
export async function readerConnection(target: RedisTarget, feedKey: string, commandTimeoutMs: number): Promise<Connection> {
  if ("url" in target) {
    return standalone(await ownClient((socket) => createClient(target.url, socket), commandTimeoutMs), "destroy", commandTimeoutMs)
  }
  const client = target.client
  if (!isCluster(client)) {
    const socket = client.options?.socket
    const make = async (overrides: object) => client.duplicate({ disableOfflineQueue: true, socket: { ...socket, ...overrides } })
    return standalone(await ownClient(make, commandTimeoutMs), "destroy", commandTimeoutMs)
  }
  const cluster = client.duplicate()
  guard(cluster)
  try {
    await bounded(commandTimeoutMs, () => cluster.connect())
  } catch (error) {
    cluster.destroy()
    throw error
  }
  return clustered(cluster, feedKey, "destroy")
}

/**
 * A client of ours, connected within `timeoutMs` (a stalled Redis accepts the TCP connection and then says
 * nothing): fails when Redis is down at first, then reconnects by itself, promptly, so that writes waiting
 * for it go through as soon as Redis is back.
 */
export async function ownClient(make: (socket: object) => Promise<RedisClientLike>, timeoutMs: number): Promise<RedisClientLike> {
  const state = { connected: false }
  const reconnectStrategy = (retries: number, cause: Error): number | Error => (state.connected ? Math.min(10 * 2 ** retries, 100) : cause)
  const client = await make({ reconnectStrategy, connectTimeout: timeoutMs })
  guard(client)
  try {
    await bounded(timeoutMs, () => client.connect())
  } catch (error) {
    if (client.isOpen) client.destroy()
    throw error
  }
  state.connected = true
  return client
}

export async function createClient(url: string, socket: object): Promise<RedisClientLike> {
  let redis: { createClient(options: object): RedisClientLike }
  try {
    redis = (await import("redis")) as unknown as typeof redis
  } catch (cause) {
    throw new Error("revocable/stores/redis needs the redis package: npm install redis", { cause })
  }
  return redis.createClient({ url, disableOfflineQueue: true, socket })
}

/**
 * Connection errors surface as rejected commands; an 'error' event with no listener would crash the process.
 * Several stores may share one client: it gets one listener, removed when the last store lets go.
 */
const guarded = new WeakMap<object, number>()
function ignoreError(): void {}

export function guard(client: RedisClientLike | RedisClusterLike): void {
  const count = guarded.get(client) ?? 0
  if (count === 0) client.on("error", ignoreError)
  guarded.set(client, count + 1)
}

export function unguard(client: RedisClientLike | RedisClusterLike): void {
  const count = guarded.get(client) ?? 0
  if (count > 1) return void guarded.set(client, count - 1)
  guarded.delete(client)
  client.off("error", ignoreError)
}

export function isCluster(client: RedisClientLike | RedisClusterLike): client is RedisClusterLike {
  return typeof (client as Partial<RedisClusterLike>).nodeClient === "function"
}
