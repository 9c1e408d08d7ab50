// The Server-Sent Events parser of revocable/remote, against the cases of WHATWG HTML §9.2.6.
import assert from "node:assert/strict"
import { test } from "node:test"
import { SseParser } from "../../src/remote/sse.ts"

/** Feeds the text in chunks of `size` characters and collects every event. */
function parse(text: string, size = text.length) {
  const parser = new SseParser()
  const events = []
  for (let i = 0; i < text.length; i += size) events.push(...parser.push(text.slice(i, i + size)))
  return { events, parser }
}

test("fields, the event name, the id and a retry; a comment is ignored", () => {
  const { events, parser } = parse("retry: 1000\n: a comment\nevent: changes\nid: e.2\ndata: {\"changes\":[]}\n\n")
  assert.deepEqual(events, [{ event: "changes", data: '{"changes":[]}', id: "e.2" }])
  assert.equal(parser.retry, 1000)
  assert.equal(parser.lastEventId, "e.2")
})

test("several data lines are joined with a line feed; no space after the colon keeps the value whole", () => {
  assert.deepEqual(parse("data:one\ndata:  two\ndata\n\n").events, [{ event: "message", data: "one\n two\n", id: undefined }])
})

test("CRLF, CR and LF all end lines, also when a CRLF is split between two chunks", () => {
  const text = "event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\revent: c\ndata: 3\n\n"
  const expected = ["a 1", "b 2", "c 3"]
  for (const size of [1, 2, 3, 7, text.length]) {
    assert.deepEqual(parse(text, size).events.map((event) => `${event.event} ${event.data}`), expected, `chunks of ${size}`)
  }
})

test("an event without data is not dispatched, but its id counts; an id with NUL is ignored; a bad retry is ignored", () => {
  const { events, parser } = parse("id: x.1\nevent: nothing\n\nid: a\0b\nretry: soon\ndata: d\n\n")
  assert.deepEqual(events, [{ event: "message", data: "d", id: undefined }])
  assert.equal(parser.lastEventId, "x.1")
  assert.equal(parser.retry, undefined)
})

test("an unfinished event waits for its blank line", () => {
  const parser = new SseParser()
  assert.deepEqual(parser.push("event: heartbeat\nid: c.1\ndata: {}\n"), [])
  assert.deepEqual(parser.push("\n"), [{ event: "heartbeat", data: "{}", id: "c.1" }])
})
