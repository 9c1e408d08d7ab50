// The revocation feed, registered under /revocations, for services that verify tokens without the store's
// credentials: a bearer token with the scope `revocations:read` (a client_credentials token) polls it, or follows
// it as a Server-Sent Events stream. One feed (feed.ts) serves every poll and every subscriber of this instance.
import type { ServerResponse } from "node:http"
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import type { FastifyReply, FastifyRequest } from "fastify"
import { Type } from "typebox"
import { AuthError } from "revocable"
import { readToken } from "revocable/fastify"
import { BEARER } from "../docs.ts"
import { revocationFeed, type FeedRead } from "../feed.ts"
import { feedHeartbeatMs } from "../engine.ts"
import * as schemas from "../schemas.ts"
import { FEED_SCOPE } from "../scopes.ts"
import { slicedJson } from "../sliced-json.ts"
import { claimsOf, type Services } from "../services.ts"

const Kind = schemas.Revocation.properties.kind
const Entry = {
  kind: Kind,
  id: Type.String({ description: "A jti, a sid, a sub or a kid, by kind." }),
  exp: Type.Integer({ description: "Seconds since the epoch: past it, nothing this revocation matches is still valid." }),
  cutoff: Type.Optional(Type.Integer({ description: "subject: a token whose gen claim is below it is revoked." })),
}
const FeedAnswer = Type.Object({
  type: Type.Enum(["snapshot", "changes"], { type: "string", description: "snapshot: replace what you hold; changes: apply these in order." }),
  cursor: Type.String({ description: "Pass it as since at the next poll; it is also the ETag." }),
  revocations: Type.Optional(Type.Array(Type.Object(Entry))),
  changes: Type.Optional(
    Type.Array(
      Type.Object({
        op: Type.Enum(["revoked", "unrevoked"], { type: "string" }),
        kind: Kind,
        id: Entry.id,
        exp: Type.Optional(Entry.exp),
        cutoff: Entry.cutoff,
      }),
    ),
  ),
})
const FeedQuery = Type.Object({ since: Type.Optional(Type.String({ maxLength: 64, description: "The cursor of your last answer." })) })
const StreamHeaders = Type.Object({
  "last-event-id": Type.Optional(Type.String({ description: "The id of the last event received (a cursor): the stream resumes after it, without a snapshot when this instance can." })),
})
const EventStream = {
  description:
    "Server-Sent Events. `retry: 1000` first; then `snapshot` (data {revocations}) unless the stream resumes, `changes` (data {changes}) as they are committed, `heartbeat` (data {}) while this instance is in sync with the store, `stale` (data {}, no id) when it is not. Each event's id is the cursor after it.",
  content: { "text/event-stream": { schema: Type.String() } },
}

/** Past this many unsent bytes beyond its last snapshot, a subscriber is dropped; it resumes with Last-Event-ID. */
const BACKLOG_LIMIT = 1 << 20
/** Heartbeat turns per period: the subscribers take them in rotation. */
const HEARTBEAT_TURNS = 10
/** The reconnection delay asked of EventSource clients, in milliseconds. */
const RETRY_MS = 1000
const STALE = Buffer.from("event: stale\ndata: {}\n\n")

/** One subscriber of the stream: where it is, and its connection. */
interface Subscriber {
  response: ServerResponse
  /** Its access token, verified again at each heartbeat, and that token's expiry (ms). */
  token: string
  expiresAt: number
  /** The id of the last event sent (or the Last-Event-ID it came with). */
  cursor: string | null
  /** Told `stale` and not brought up to date since: no heartbeat meanwhile. */
  stale: boolean
  reading: boolean
  /** A read asked for while one was under way: whether it was a heartbeat's. */
  queued: boolean | null
  /** Unsent bytes allowed: BACKLOG_LIMIT beyond the last snapshot sent. */
  allowance: number
  /** Its turn for heartbeats within each period. */
  turn: number
}

/** RFC 6750 §3.1: a valid token without the scope. */
async function requireFeedScope(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const scope = claimsOf(request).scope
  if (typeof scope === "string" && scope.split(" ").includes(FEED_SCOPE)) return
  await reply
    .code(403)
    .header("www-authenticate", `Bearer error="insufficient_scope", scope="${FEED_SCOPE}"`)
    .send({ error: "insufficient_scope", error_description: `This needs a token with the scope ${FEED_SCOPE}: the client_credentials grant of a client registered with it.` })
}

export const revocationRoutes: FastifyPluginAsyncTypebox<Pick<Services, "auth" | "store" | "bearer" | "cookies" | "metrics" | "config">> = async (
  app,
  { auth, store, bearer, cookies, metrics, config },
) => {
  const feed = revocationFeed(auth, store)
  const subscribers = new Set<Subscriber>()
  /**
   * The last snapshot event, shared by the subscribers that connect at the same cursor; and the last snapshot
   * polled, as JSON. Each is serialized once per cursor, in slices (a million entries take seconds).
   */
  let snapshot: { cursor: string; frame: Promise<Buffer> } = { cursor: "", frame: Promise.resolve(Buffer.alloc(0)) }
  let polled: { cursor: string; json: Promise<Buffer> } = { cursor: "", json: Promise.resolve(Buffer.alloc(0)) }

  function send(subscriber: Subscriber, event: string, bytes: Buffer): void {
    write(subscriber, bytes)
    metrics.stream.sent(event)
  }

  /** Bytes, encoded once for every subscriber they go to. */
  function write(subscriber: Subscriber, bytes: Buffer): void {
    subscriber.response.write(bytes)
    if (subscriber.response.writableLength > subscriber.allowance) end(subscriber, "slow")
  }

  function end(subscriber: Subscriber, reason: "client" | "token" | "slow" | "closing"): void {
    if (!subscribers.delete(subscriber)) return
    metrics.stream.closed(reason)
    // A slow subscriber's backlog would wait for it to read: dropped with the connection.
    if (reason === "slow" || (reason === "closing" && subscriber.response.writableLength > 0)) subscriber.response.destroy()
    else subscriber.response.end()
  }

  function tellStale(subscriber: Subscriber): void {
    if (subscriber.stale) return
    subscriber.stale = true
    send(subscriber, "stale", STALE)
  }

  /** Sends what the subscriber lacks since its cursor: a snapshot, the changes, or else (`heartbeat`) a heartbeat. */
  function catchUp(subscriber: Subscriber, heartbeat: boolean): void {
    if (subscriber.reading) {
      subscriber.queued = (subscriber.queued ?? false) || heartbeat
      return
    }
    // A stale replica may miss revocations: the next fresh heartbeat brings the subscriber up to date.
    if (!auth.replicaStatus().fresh) return tellStale(subscriber)
    subscriber.reading = true
    feed
      .read(subscriber.cursor)
      .then(async (answer) => {
        if (subscribers.has(subscriber)) await deliver(subscriber, answer, heartbeat)
        subscriber.reading = false
        const queued = subscriber.queued
        subscriber.queued = null
        if (queued !== null && subscribers.has(subscriber)) catchUp(subscriber, queued)
      })
      .catch(() => {
        // The feed could not load its snapshot from the store.
        subscriber.reading = false
        if (subscribers.has(subscriber)) tellStale(subscriber)
      })
  }

  /** Writes the answer; a snapshot once it is serialized (batches meanwhile queue behind `reading`). */
  async function deliver(subscriber: Subscriber, answer: FeedRead, heartbeat: boolean): Promise<void> {
    if (answer.type === "snapshot") {
      if (snapshot.cursor !== answer.cursor) snapshot = { cursor: answer.cursor, frame: slicedJson(`${eventHead("snapshot", answer.cursor)}{"revocations":[`, answer.revocations, "]}\n\n") }
      const bytes = await snapshot.frame
      if (!subscribers.has(subscriber)) return
      subscriber.stale = false
      subscriber.cursor = answer.cursor
      subscriber.allowance = BACKLOG_LIMIT + bytes.length
      return send(subscriber, "snapshot", bytes)
    }
    subscriber.stale = false
    subscriber.cursor = answer.cursor
    if (answer.changes.length > 0) {
      send(subscriber, "changes", frame("changes", answer.cursor, JSON.stringify({ changes: answer.changes })))
    } else if (heartbeat) {
      send(subscriber, "heartbeat", frame("heartbeat", answer.cursor, "{}"))
    }
  }

  // Each batch is written as it is to every subscriber that was at its start; any other catches up by reading.
  const offBatches = feed.subscribe((batch) => {
    let bytes: Buffer | undefined
    let sent = 0
    for (const subscriber of subscribers) {
      if (subscriber.cursor === batch.from && !subscriber.reading) {
        bytes ??= frame("changes", batch.cursor, JSON.stringify({ changes: batch.changes }))
        subscriber.cursor = batch.cursor
        write(subscriber, bytes)
        sent++
      } else if (!subscriber.stale) {
        catchUp(subscriber, false)
      }
    }
    if (sent > 0) metrics.stream.sent("changes", sent)
  })

  // As often as the store's feed beats for the replica: several heartbeats within a verifier's maxStaleness. Each
  // subscriber has its turn in the period: a fleet's heartbeats, all at once, would stall the changes behind them.
  const heartbeatMs = feedHeartbeatMs(config.maxStalenessMs)
  const turns = Math.max(1, Math.min(HEARTBEAT_TURNS, Math.floor(heartbeatMs / 10)))
  let turn = 0
  let nextTurn = 0

  /** At each subscriber's turn: end its stream if its token expired or was revoked; else a heartbeat, or `stale`. */
  function beat(): void {
    const now = Date.now()
    const fresh = auth.replicaStatus().fresh
    const current = turn
    turn = (turn + 1) % turns
    for (const subscriber of subscribers) {
      if (subscriber.turn !== current) continue
      if (now >= subscriber.expiresAt) {
        end(subscriber, "token")
      } else if (!fresh) {
        tellStale(subscriber)
      } else {
        // Local while the replica is fresh: no store round trip.
        auth.verify(subscriber.token).catch((error: unknown) => {
          if (!(error instanceof AuthError && error.code === "store_unavailable")) end(subscriber, "token")
        })
        catchUp(subscriber, true)
      }
    }
  }
  const heartbeats = setInterval(beat, heartbeatMs / turns)
  heartbeats.unref()

  // Before the server stops listening, which waits for every open connection.
  app.addHook("preClose", async () => {
    clearInterval(heartbeats)
    for (const subscriber of subscribers) end(subscriber, "closing")
  })
  app.addHook("onClose", async () => {
    offBatches()
    feed.close()
  })

  app.get("/", {
    prefixTrailingSlash: "no-slash",
    onRequest: [bearer, requireFeedScope],
    schema: {
      summary: "The live revocations, for verifiers without store credentials: a snapshot, then the changes since a cursor.",
      description: `Needs a bearer token with the scope ${FEED_SCOPE}. Without since (or with a cursor this instance no longer follows: another instance's, or too old) the answer is a snapshot of the live revocations; with it, the changes since. Drop each entry at its exp. ETag is the cursor: If-None-Match with it answers 304 while nothing changed. 503 while this instance's replica is not in sync with the store.`,
      tags: ["oauth"],
      security: BEARER,
      querystring: FeedQuery,
      response: { 200: FeedAnswer, 304: schemas.Empty, ...schemas.errors(400, 401, 403, 503) },
    },
    async handler(request, reply) {
      // A stale replica may miss revocations: a verifier must not take that for the whole truth.
      if (!auth.replicaStatus().fresh) throw new AuthError("store_unavailable", "The revocation replica is not in sync with the store: try again shortly.")
      const answer = await feed.read(request.query.since ?? null)
      const etag = `W/"${answer.cursor}"`
      reply.header("etag", etag).header("cache-control", "private, no-cache")
      if (matches(request.headers["if-none-match"], etag)) return reply.code(304).send()
      if (answer.type !== "snapshot") return answer
      if (polled.cursor !== answer.cursor) polled = { cursor: answer.cursor, json: slicedJson(`{"type":"snapshot","cursor":${JSON.stringify(answer.cursor)},"revocations":[`, answer.revocations, "]}") }
      // Already JSON: Fastify sends bytes as they are (the type provider only knows the answer's object form).
      return reply.type("application/json; charset=utf-8").send((await polled.json) as never)
    },
  })

  app.get("/stream", {
    // A HEAD would hold a stream open with nothing to send.
    exposeHeadRoute: false,
    onRequest: [bearer, requireFeedScope],
    schema: {
      summary: "The live revocations as a Server-Sent Events stream: a snapshot, then each change as it is committed, and heartbeats.",
      description: `Needs a bearer token with the scope ${FEED_SCOPE}; the stream ends when that token expires or is revoked (reconnect with a new one). With Last-Event-ID (or since) a cursor this instance still follows, the stream resumes with the changes since, without a snapshot. Heartbeats come only while this instance's replica is in sync with the store: \`stale\` says it no longer is, and counts no contact. A subscriber that does not read is dropped once its backlog passes 1 MiB.`,
      tags: ["oauth"],
      security: BEARER,
      querystring: FeedQuery,
      headers: StreamHeaders,
      response: { 200: EventStream, ...schemas.errors(400, 401, 403) },
    },
    async handler(request, reply) {
      const claims = claimsOf(request)
      const token = readToken(request, { cookie: cookies })
      if (token === null) throw new AuthError("token_missing")
      reply.hijack()
      const response = reply.raw
      response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" })
      response.write(`retry: ${RETRY_MS}\n\n`)
      const subscriber: Subscriber = {
        response,
        token,
        expiresAt: claims.exp * 1000,
        cursor: request.headers["last-event-id"] ?? request.query.since ?? null,
        stale: false,
        reading: false,
        queued: null,
        allowance: BACKLOG_LIMIT,
        turn: nextTurn,
      }
      nextTurn = (nextTurn + 1) % turns
      subscribers.add(subscriber)
      metrics.stream.opened()
      response.on("close", () => end(subscriber, "client"))
      catchUp(subscriber, true)
    },
  })
}

/** One Server-Sent Event, as the bytes written; JSON data holds no line break. */
function frame(event: string, id: string, data: string): Buffer {
  return Buffer.from(`${eventHead(event, id)}${data}\n\n`)
}

/** An event's fields up to its data. */
function eventHead(event: string, id: string): string {
  return `event: ${event}\nid: ${id}\ndata: `
}

/** RFC 9110 §13.1.2: If-None-Match compares weakly, and may list several tags or be `*`. */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  const bare = etag.replace(/^W\//, "")
  return header.split(",").some((tag) => {
    const trimmed = tag.trim()
    return trimmed === "*" || trimmed.replace(/^W\//, "") === bare
  })
}
