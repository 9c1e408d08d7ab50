// The revocation feed as a Server-Sent Events stream (issue 15, point 2): a snapshot, then each change as it is
// committed, heartbeats, resumable with Last-Event-ID; to a bearer of revocations:read only, for as long as its
// token is valid; a subscriber that does not read is dropped without holding up the others.
import assert from "node:assert/strict"
import { connect, type Socket } from "node:net"
import { after, before, describe, test } from "node:test"
import { clientDirectory } from "../../src/server/client-directory.ts"
import { call, PASSWORD, signIn, testServer, type TestServer } from "../helpers/server.ts"
import { openStream, type EventStream, type StreamEvent } from "../helpers/sse.ts"

const ADMIN_PASSWORD = "the admin's long passphrase"

let server: TestServer
let admin: string
let reader: string

before(async () => {
  server = await testServer({ REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD, REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  admin = (await signIn(server.url, "admin", ADMIN_PASSWORD, false)).access_token
  reader = (await serviceClient(server, ["revocations:read"])).token
})
// Closing the server ends the streams still open.
after(() => server.close())

async function serviceClient(on: TestServer, scopes: string[]): Promise<{ clientId: string; token: string }> {
  const { clientId, clientSecret } = await clientDirectory(on.store).create("verifier", { scopes })
  const answer = await call(on.url, "POST", "/oauth/token", { form: { grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret } })
  assert.equal(answer.status, 200)
  return { clientId, token: answer.body.access_token }
}

function subscribe(options: { lastEventId?: string; since?: string; token?: string; on?: TestServer } = {}): Promise<EventStream> {
  return openStream((options.on ?? server).url, options.token ?? reader, options)
}

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1] as string, "base64url").toString())
const revoke = (json: Record<string, string>) => call(server.url, "POST", "/admin/revocations", { token: admin, json })
const isChange = (id: string) => (event: StreamEvent) => event.event === "changes" && event.data.changes.some((change: { id: string }) => change.id === id)
/** The ops of the changes to these ids, in the order the events carried them. */
const opsOf = (events: StreamEvent[], ids: string[]) =>
  events
    .filter((event) => event.event === "changes")
    .flatMap((event) => event.data.changes)
    .filter((change: { id: string }) => ids.includes(change.id))
    .map((change: { op: string; kind: string }) => `${change.op} ${change.kind}`)

async function metric(on: TestServer, line: string): Promise<number> {
  const text = (await call(on.url, "GET", "/metrics")).text
  const found = text.split("\n").find((candidate) => candidate.startsWith(`${line} `))
  return found === undefined ? 0 : Number(found.slice(line.length + 1))
}

describe("who may follow the stream", () => {
  test("no token or a wrong one is 401 with RFC 6750's challenge; a token without revocations:read is 403 insufficient_scope", async () => {
    const missing = await call(server.url, "GET", "/revocations/stream")
    assert.equal(missing.status, 401)
    assert.equal(missing.body.error, "token_missing")
    assert.match(missing.headers.get("www-authenticate") ?? "", /^Bearer/)

    const wrong = await call(server.url, "GET", "/revocations/stream", { token: `${reader.slice(0, -4)}AAAA` })
    assert.equal(wrong.status, 401)
    assert.equal(wrong.body.error, "token_invalid")
    assert.match(wrong.headers.get("www-authenticate") ?? "", /^Bearer error="invalid_token"/)

    const user = (await signIn(server.url, "stream-user", PASSWORD)).access_token
    for (const token of [user, (await serviceClient(server, ["orders:read"])).token]) {
      const answer = await call(server.url, "GET", "/revocations/stream", { token })
      assert.equal(answer.status, 403)
      assert.equal(answer.body.error, "insufficient_scope")
      assert.match(answer.body.error_description, /revocations:read/)
      assert.equal(answer.headers.get("www-authenticate"), 'Bearer error="insufficient_scope", scope="revocations:read"')
    }
  })

  test("removing the client ends its stream, and its token is refused at the reconnect", async () => {
    const { clientId, token } = await serviceClient(server, ["revocations:read"])
    const stream = await subscribe({ token })
    await stream.next((event) => event.event === "snapshot")
    assert.equal((await call(server.url, "DELETE", `/admin/clients/${clientId}`, { token: admin })).status, 204)
    await stream.ended
    const again = await call(server.url, "GET", "/revocations/stream", { token })
    assert.equal(again.status, 401)
    assert.equal(again.body.error, "token_revoked")
  })

  test("the stream ends when its token expires", async () => {
    const shortLived = await testServer({ REVOCABLE_ACCESS_TTL: "2s" })
    try {
      const { token } = await serviceClient(shortLived, ["revocations:read"])
      const stream = await subscribe({ token, on: shortLived })
      await stream.next((event) => event.event === "snapshot")
      await stream.ended
      assert.ok(Date.now() >= claimsOf(token).exp * 1000)
    } finally {
      await shortLived.close()
    }
  })
})

describe("following", () => {
  test("retry first, then a snapshot, then each change in order, with the poll's cursors as ids", async () => {
    const victim = await signIn(server.url, "stream-vera", PASSWORD)
    const { jti, sid, sub } = claimsOf(victim.access_token)
    await revoke({ kind: "subject", id: sub })
    const stream = await subscribe()
    assert.equal(stream.headers.get("content-type"), "text/event-stream; charset=utf-8")
    assert.equal(stream.headers.get("cache-control"), "no-store")
    assert.equal(stream.headers.get("x-accel-buffering"), "no")
    const snapshot = await stream.next()
    assert.equal(stream.retry, 1000)
    assert.equal(snapshot.event, "snapshot")
    assert.ok(snapshot.data.revocations.some((entry: { kind: string; id: string; cutoff?: number }) => entry.kind === "subject" && entry.id === sub && typeof entry.cutoff === "number"))

    await revoke({ kind: "token", id: victim.access_token })
    await revoke({ kind: "session", id: sid })
    assert.equal((await call(server.url, "DELETE", `/admin/revocations/token/${jti}`, { token: admin })).status, 204)
    const last = await stream.next((event) => event.event === "changes" && event.data.changes.some((change: { op: string; id: string }) => change.op === "unrevoked" && change.id === jti))
    assert.deepEqual(opsOf(stream.events, [jti, sid]), ["revoked token", "revoked session", "unrevoked token"])
    // An event's id is the cursor after it: the poll with it has nothing newer.
    const poll = await call(server.url, "GET", `/revocations?since=${encodeURIComponent(last.id ?? "")}`, { token: reader })
    assert.deepEqual(poll.body, { type: "changes", cursor: last.id, changes: [] })
  })

  test("resumed with Last-Event-ID (or since), only the changes made meanwhile: no snapshot", async () => {
    const first = await subscribe()
    await first.next((event) => event.event === "snapshot")
    first.close()
    const missed = await signIn(server.url, "stream-wanda", PASSWORD)
    const { sid } = claimsOf(missed.access_token)
    await revoke({ kind: "session", id: sid })

    const resumed = await subscribe({ lastEventId: first.lastEventId() ?? "" })
    const next = await resumed.next()
    assert.equal(next.event, "changes")
    assert.deepEqual(opsOf([next], [sid]), ["revoked session"])
    assert.equal(resumed.events.some((event) => event.event === "snapshot"), false)

    const viaQuery = await subscribe({ since: first.lastEventId() ?? "" })
    assert.equal((await viaQuery.next()).event, "changes")
    // Nothing missed: a heartbeat at once, at the subscriber's own cursor.
    const current = await subscribe({ lastEventId: next.id ?? "" })
    const beat = await current.next()
    assert.deepEqual(beat, { event: "heartbeat", id: next.id, data: {} })
  })

  test("a cursor this instance cannot follow (another instance's, unknown, garbage) gets a snapshot", async () => {
    const other = await testServer({}, { store: server.store })
    try {
      const elsewhere = await subscribe({ on: other, token: (await serviceClient(other, ["revocations:read"])).token })
      const foreign = (await elsewhere.next()).id ?? ""
      const epoch = ((await call(server.url, "GET", "/revocations", { token: reader })).body.cursor as string).split(".")[0]
      for (const lastEventId of [foreign, `${epoch}.999999`, "garbage", "x".repeat(500)]) {
        const stream = await subscribe({ lastEventId })
        assert.equal((await stream.next()).event, "snapshot", lastEventId)
        stream.close()
      }
    } finally {
      await other.close()
    }
  })

  test("heartbeats at the subscriber's cursor while the replica is fresh", async () => {
    const stream = await subscribe()
    const snapshot = await stream.next()
    const beats = [await stream.next(), await stream.next()]
    assert.deepEqual(beats, [
      { event: "heartbeat", id: snapshot.id, data: {} },
      { event: "heartbeat", id: snapshot.id, data: {} },
    ])
  })

  test("a subscriber that never reads is dropped past its backlog bound, while another keeps receiving every change", async () => {
    const follower = await subscribe()
    await follower.next((event) => event.event === "snapshot")
    const slow = await rawSubscriber(new URL(server.url), reader)
    const slowEnded = new Promise<void>((resolve) => slow.once("close", () => resolve()))

    // Subject ids of 1000 characters, so that a few thousand changes pass the kernel's buffers and the 1 MiB bound.
    const ids: string[] = []
    while ((await metric(server, 'revocable_stream_disconnects_total{reason="slow"}')) === 0) {
      for (let i = 0; i < 200; i++) {
        const id = `slow-${ids.length}-`.padEnd(1000, "x")
        ids.push(id)
        await server.store.revoke({ kind: "subject", id, subject: id, reason: null, actor: null, createdAt: Date.now(), expiresAt: Date.now() + 3_600_000 })
      }
      assert.ok(ids.length < 40_000, "the slow subscriber was never dropped")
    }
    await follower.next(isChange(ids.at(-1) as string))
    const received = follower.events.flatMap((event) => (event.event === "changes" ? event.data.changes.map((change: { id: string }) => change.id) : []))
    assert.deepEqual(received.filter((id: string) => id.startsWith("slow-")), ids)

    // Read at last, the slow one finds its stream cut.
    slow.resume()
    await slowEnded
  })

  test("the feed's stream is in the OpenAPI document as text/event-stream, and in the server's metadata", async () => {
    const document = (await call(server.url, "GET", "/docs/json")).body
    assert.ok(document.paths["/revocations/stream"]?.get?.responses?.["200"]?.content?.["text/event-stream"])
    const metadata = (await call(server.url, "GET", "/.well-known/oauth-authorization-server")).body
    assert.equal(metadata.revocations_endpoint, "http://issuer.test/revocations")
    assert.equal(metadata.revocations_stream_endpoint, "http://issuer.test/revocations/stream")
  })
})

test("closing the server ends every stream at once", async () => {
  const closing = await testServer()
  const stream = await subscribe({ on: closing, token: (await serviceClient(closing, ["revocations:read"])).token })
  await stream.next()
  const slow = await rawSubscriber(new URL(closing.url), (await serviceClient(closing, ["revocations:read"])).token)
  // Answered, so subscribed; it reads no further.
  await new Promise((resolve) => slow.once("readable", resolve))
  await closing.close()
  await stream.ended
  slow.destroy()
})

/** A subscriber on a raw socket that reads nothing once the request is sent. */
async function rawSubscriber(url: URL, token: string): Promise<Socket> {
  const socket = connect(Number(url.port), url.hostname)
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()))
  socket.on("error", () => {})
  socket.pause()
  socket.write(`GET /revocations/stream HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`)
  return socket
}
