// A Server-Sent Events parser (WHATWG HTML §9.2.6, "Interpreting an event stream"): text in, events out.
// Fed decoded text in chunks of any size; a line split across chunks, and a CRLF split between two, are joined.

export interface SseEvent {
  /** "message" when the stream names none. */
  event: string
  /** The data lines joined with "\n". */
  data: string
  /** The id this event set, if it carried an `id` field (the last event id otherwise persists). */
  id: string | undefined
}

export class SseParser {
  /**
   * The pieces of a line not ended yet. Only each new chunk is scanned for line ends, and the pieces are joined
   * once the line ends: a snapshot of millions of entries is one line, received in thousands of chunks.
   */
  #pending: string[] = []
  /** A chunk ended with CR: an LF opening the next one belongs to that line break. */
  #afterCr = false
  #event = ""
  #data: string[] = []
  #id: string | undefined = undefined
  /** The stream's `Last-Event-ID`: the last id field seen, even on an event without data. */
  lastEventId = ""
  /** The reconnection delay the stream asked for (`retry:`), in milliseconds. */
  retry: number | undefined = undefined

  /** The events completed by this chunk. */
  push(chunk: string): SseEvent[] {
    let text = chunk
    if (this.#afterCr && text.startsWith("\n")) text = text.slice(1)
    this.#afterCr = text.endsWith("\r")
    const events: SseEvent[] = []
    let start = 0
    // indexOf runs natively; the next CR is looked for again only once passed (most streams hold none).
    let cr = text.indexOf("\r")
    for (;;) {
      if (cr !== -1 && cr < start) cr = text.indexOf("\r", start)
      const lf = text.indexOf("\n", start)
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf)
      if (end === -1) break
      let line = text.slice(start, end)
      if (this.#pending.length > 0) {
        this.#pending.push(line)
        line = this.#pending.join("")
        this.#pending = []
      }
      const event = this.#line(line)
      if (event) events.push(event)
      start = end + (text[end] === "\r" && text[end + 1] === "\n" ? 2 : 1)
    }
    if (start < text.length) this.#pending.push(text.slice(start))
    return events
  }

  #line(line: string): SseEvent | undefined {
    if (line === "") return this.#dispatch()
    if (line.startsWith(":")) return undefined
    const colon = line.indexOf(":")
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? "" : line.slice(colon + 1)
    if (value.startsWith(" ")) value = value.slice(1)
    if (field === "event") this.#event = value
    else if (field === "data") this.#data.push(value)
    else if (field === "id" && !value.includes("\0")) this.#id = this.lastEventId = value
    else if (field === "retry" && /^[0-9]+$/.test(value)) this.retry = Number(value)
    return undefined
  }

  #dispatch(): SseEvent | undefined {
    const event = this.#event === "" ? "message" : this.#event
    const hadData = this.#data.length > 0
    const result = { event, data: this.#data.join("\n"), id: this.#id }
    this.#event = ""
    this.#data = []
    this.#id = undefined
    // An event without a data field is not dispatched (the id it set still counts).
    return hadData ? result : undefined
  }
}
