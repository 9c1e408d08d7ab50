// A small Server-Sent Events client for tests of GET /revocations/stream: it keeps every event received, and
// waits for the next one that matches (never for a while).

export interface StreamEvent {
  event: string
  id: string | undefined
  data: any
}

export interface EventStream {
  headers: Headers
  /** The `retry:` the server asked for, once received. */
  retry: number | undefined
  /** Every event so far, in order. */
  events: StreamEvent[]
  /** The next event after those already taken (by `next`) that matches; the ones skipped are taken too. */
  next(match?: (event: StreamEvent) => boolean): Promise<StreamEvent>
  /** Resolves when the server ends the stream (or the connection drops). */
  ended: Promise<void>
  /** The id of the last event that had one: what a reconnecting EventSource sends as Last-Event-ID. */
  lastEventId(): string | undefined
  close(): void
}

/** Opens the stream with the token; throws unless it answers 200. */
export async function openStream(base: string, token: string, options: { lastEventId?: string; since?: string } = {}): Promise<EventStream> {
  const abort = new AbortController()
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: "text/event-stream" }
  if (options.lastEventId !== undefined) headers["last-event-id"] = options.lastEventId
  const query = options.since === undefined ? "" : `?since=${encodeURIComponent(options.since)}`
  const response = await fetch(`${base}/revocations/stream${query}`, { headers, signal: abort.signal })
  if (response.status !== 200 || response.body === null) throw new Error(`the stream answered ${response.status}: ${await response.text()}`)
  const body = response.body.getReader()

  const events: StreamEvent[] = []
  let taken = 0
  let finished = false
  const waiters = new Set<() => void>()
  const wake = () => {
    for (const waiter of [...waiters]) waiter()
  }
  const stream: EventStream = {
    headers: response.headers,
    retry: undefined,
    events,
    async next(match = () => true) {
      for (;;) {
        while (taken < events.length) {
          const event = events[taken++] as StreamEvent
          if (match(event)) return event
        }
        if (finished) throw new Error(`the stream ended; events: ${events.map((event) => event.event).join(", ")}`)
        await new Promise<void>((resolve) => {
          const waiter = () => {
            waiters.delete(waiter)
            resolve()
          }
          waiters.add(waiter)
        })
      }
    },
    ended: (async () => {
      const decoder = new TextDecoder()
      let buffered = ""
      try {
        for (let chunk = await body.read(); !chunk.done; chunk = await body.read()) {
          buffered += decoder.decode(chunk.value, { stream: true })
          let end: number
          while ((end = buffered.indexOf("\n\n")) >= 0) {
            parseBlock(buffered.slice(0, end))
            buffered = buffered.slice(end + 2)
          }
        }
      } catch {
        // Aborted by close(), or the connection dropped: either way, ended.
      }
      finished = true
      wake()
    })(),
    lastEventId: () => events.findLast((event) => event.id !== undefined)?.id,
    close: () => abort.abort(),
  }

  function parseBlock(block: string): void {
    const fields: Record<string, string> = {}
    for (const line of block.split("\n")) {
      const colon = line.indexOf(":")
      fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, "")
    }
    if (fields.retry !== undefined) stream.retry = Number(fields.retry)
    if (fields.event === undefined) return
    events.push({ event: fields.event, id: fields.id, data: JSON.parse(fields.data ?? "null") })
    wake()
  }
  return stream
}
