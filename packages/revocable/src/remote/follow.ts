// Following the revocation feed: a Server-Sent Events stream (or, where none can be held, a poll), reconnecting
// with backoff and resuming from the last cursor; or, on demand, one poll when the verifier asks for it (no
// background work, for runtimes that allow none between requests). Every answer goes into the RemoteReplica,
// which records contact.
import { describeAnswer, RemoteError, type Endpoints, type FeedToken } from "./credentials.ts"
import { FeedError, type RemoteReplica } from "./replica.ts"
import { SseParser } from "./sse.ts"

type Fetch = typeof fetch

export type FeedMode = "stream" | "poll" | "auto" | "on-demand"

export interface FollowOptions {
  endpoints: Endpoints
  token: FeedToken
  replica: RemoteReplica
  fetch: Fetch
  mode: FeedMode
  pollIntervalMs: number
  maxStalenessMs: number
  now: () => number
  /** A failed attempt (the loop retries after a backoff). */
  onError(error: unknown): void
  /** A connection opened or a poll was answered. */
  onConnected(): void
}

const BACKOFF_BASE_MS = 250
const BACKOFF_CAP_MS = 10_000

/** The stream is not served here (an older server, a proxy that buffers): auto mode polls instead. */
class StreamUnavailable extends Error {}

export class Follower {
  readonly #options: FollowOptions
  #mode: "stream" | "poll" | "on-demand"
  #closed = false
  #attempt: AbortController | undefined
  #wake: (() => void) | undefined
  /** Consecutive failures, for the backoff. */
  #failures = 0
  /** Consecutive 401s: one is answered by a new token, two are an error. */
  #refused = 0
  /** The delay the stream asked for before a reconnection (`retry:`). */
  #retryMs = 1000
  /** The on-demand poll under way, shared by every verify that asks meanwhile. */
  #polling: Promise<void> | undefined
  readonly done: Promise<void>

  constructor(options: FollowOptions) {
    this.#options = options
    this.#mode = options.mode === "on-demand" ? "on-demand" : options.mode === "poll" || options.endpoints.stream === null ? "poll" : "stream"
    this.done = this.#mode === "on-demand" ? Promise.resolve() : this.#run()
  }

  get mode(): "stream" | "poll" | "on-demand" {
    return this.#mode
  }

  /** One poll now (on demand), with a new token if the feed refused the one held; rejects when it fails. */
  pollNow(): Promise<void> {
    this.#polling ??= (async () => {
      try {
        await this.#poll()
      } catch (error) {
        if (!(error instanceof RetryNow)) throw error
        await this.#poll()
      }
    })().finally(() => {
      this.#polling = undefined
    })
    return this.#polling
  }

  close(): Promise<void> {
    this.#closed = true
    this.#attempt?.abort()
    this.#wake?.()
    return this.done
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        if (this.#mode === "stream") {
          await this.#stream()
          // The server ended the stream (its token expired, we fell behind): back soon, from where we were.
          await this.#sleep(this.#retryMs)
        } else {
          await this.#poll()
          await this.#sleep(this.#options.pollIntervalMs)
        }
      } catch (error) {
        if (this.#closed) break
        if (error instanceof StreamUnavailable && this.#options.mode === "auto") {
          this.#mode = "poll"
          continue
        }
        if (error instanceof RetryNow) continue
        this.#failures++
        this.#options.onError(error)
        await this.#sleep(backoff(this.#failures))
      }
    }
  }

  /**
   * One request's abort controller, aborted by close() or when the server goes quiet for too long. A sign of life
   * only notes the time: the timer, when it fires, waits out what remains (a burst of changes re-arms no timer).
   */
  #begin(): { signal: AbortSignal; heard: () => void; end: () => void } {
    const controller = new AbortController()
    this.#attempt = controller
    const limit = Math.max(this.#options.maxStalenessMs, 2 * this.#retryMs)
    let heardAt = performance.now()
    const check = () => {
      const silent = performance.now() - heardAt
      if (silent >= limit) controller.abort(new RemoteError(`The revocation feed sent nothing for ${limit} ms.`))
      else timer = setTimeout(check, limit - silent)
    }
    let timer = setTimeout(check, limit)
    return {
      signal: controller.signal,
      // Something arrived: the server is alive, give it another full period.
      heard: () => {
        heardAt = performance.now()
      },
      // Aborting a finished request is harmless; an unfinished one (a stream we leave) is closed.
      end: () => {
        clearTimeout(timer)
        controller.abort()
      },
    }
  }

  async #authorized(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<{ response: Response; token: string }> {
    const token = await this.#options.token.get(signal)
    const response = await this.#options.fetch(url, { headers: { ...headers, authorization: `Bearer ${token}` }, signal })
    if (response.status === 401) {
      this.#options.token.discard(token)
      const { code, text } = await describeAnswer(response)
      if (++this.#refused === 1) throw new RetryNow()
      throw new RemoteError(`The revocation feed refused the verifier's token (${text}).`, { status: 401, code })
    }
    if (response.status === 403) {
      const { code, text } = await describeAnswer(response)
      throw new RemoteError(`The revocation feed refused the verifier (${text}): register the client with the scope revocations:read.`, { status: 403, code })
    }
    this.#refused = 0
    return { response, token }
  }

  async #poll(): Promise<void> {
    const { replica, endpoints } = this.#options
    const attempt = this.#begin()
    try {
      const sentAt = this.#options.now()
      const since = replica.cursor
      const url = since === null ? endpoints.poll : `${endpoints.poll}?since=${encodeURIComponent(since)}`
      const headers: Record<string, string> = { accept: "application/json" }
      if (since !== null) headers["if-none-match"] = `W/"${since}"`
      const { response } = await this.#authorized(url, headers, attempt.signal)
      if (response.status === 304) {
        replica.heartbeat(since ?? undefined, sentAt)
      } else if (response.ok) {
        const answer = (await readJson(response)) as { type?: unknown; cursor?: unknown; revocations?: unknown; changes?: unknown }
        if (answer.type === "snapshot") replica.loadSnapshot(answer.revocations, answer.cursor as string, sentAt)
        else if (answer.type === "changes") replica.applyChanges(answer.changes, answer.cursor as string, sentAt)
        else throw new FeedError("The feed's answer is neither a snapshot nor changes.")
      } else {
        throw new RemoteError(`The revocation feed answered ${(await describeAnswer(response)).text}.`, { status: response.status })
      }
      this.#failures = 0
      this.#options.onConnected()
    } finally {
      attempt.end()
    }
  }

  async #stream(): Promise<void> {
    const { replica, endpoints } = this.#options
    const attempt = this.#begin()
    try {
      const headers: Record<string, string> = { accept: "text/event-stream" }
      if (replica.cursor !== null) headers["last-event-id"] = replica.cursor
      const { response } = await this.#authorized(endpoints.stream as string, headers, attempt.signal)
      const type = response.headers.get("content-type") ?? ""
      if ([404, 405, 406, 501].includes(response.status) || (response.ok && !type.startsWith("text/event-stream")) || (response.ok && response.body === null)) {
        await response.body?.cancel()
        throw new StreamUnavailable()
      }
      if (!response.ok) throw new RemoteError(`The revocation stream answered ${(await describeAnswer(response)).text}.`, { status: response.status })
      this.#options.onConnected()
      const parser = new SseParser()
      const decoder = new TextDecoder()
      const reader = (response.body as ReadableStream<Uint8Array>).getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        // Events that arrived together share one reading of the clock.
        const at = this.#options.now()
        let heard = false
        for (const event of parser.push(decoder.decode(value, { stream: true }))) {
          // The instance cannot vouch for its replica: no contact, nor a sign of life. Past the quiet limit the
          // stream is left, and a reconnection may reach an instance in sync (behind a load balancer).
          if (event.event === "stale") continue
          heard = true
          if (event.event === "snapshot") {
            replica.loadSnapshot((JSON.parse(event.data) as { revocations?: unknown }).revocations, event.id as string, at)
          } else if (event.event === "changes") {
            replica.applyChanges((JSON.parse(event.data) as { changes?: unknown }).changes, event.id as string, at)
          } else if (event.event === "heartbeat" && !replica.heartbeat(event.id, at)) {
            // The server is further on than we are: we missed something. Resume from what we hold.
            throw new FeedError("A heartbeat named a cursor other than ours.")
          }
        }
        if (heard) {
          attempt.heard()
          this.#failures = 0
        }
        if (parser.retry !== undefined) this.#retryMs = parser.retry
      }
    } finally {
      attempt.end()
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.#wake = done
    })
  }
}

/**
 * The body as JSON, decoded chunk by chunk as it arrives rather than all at once after the last byte (as
 * `response.json()` does): a snapshot of a million revocations (64 MB) is ready about 60 ms sooner.
 */
async function readJson(response: Response): Promise<unknown> {
  if (response.body === null) return response.json()
  const decoder = new TextDecoder()
  const parts: string[] = []
  const reader = response.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    parts.push(decoder.decode(value, { stream: true }))
  }
  parts.push(decoder.decode())
  return JSON.parse(parts.join(""))
}

/** A 401 answered by fetching a new token: tried again at once, not counted as a failure. */
class RetryNow extends Error {}

/** Exponential, capped, with jitter (half fixed, half random), so that a fleet of verifiers does not reconnect in step. */
function backoff(failures: number): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 16))
  return ceiling / 2 + Math.random() * (ceiling / 2)
}
