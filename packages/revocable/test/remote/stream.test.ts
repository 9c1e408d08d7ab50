// revocable/remote's protocol handling against a small feed server written here: the stream's snapshot, changes
// and heartbeats, resumption with Last-Event-ID, a heartbeat that shows missed changes, an instance that says
// it is stale, the fallback to polling, on-demand polling, and the rate limit of JWKS refetches.
import assert from "node:assert/strict"
import { randomUUID } from "node:crypto"
import { createServer, type ServerResponse } from "node:http"
import { after, before, test } from "node:test"
import { remoteVerifier, type RemoteVerifier, type RemoteVerifierEvents } from "../../src/remote/index.ts"
import { keyPair, outcome, signAccessToken, type SigningKey } from "./helpers.ts"

const ISSUER_PATH = ""
const known = keyPair()
const unknown = keyPair()

let base = ""
let streamAvailable = true
let jwksRequests = 0
let tokenRequests = 0
let pollRequests = 0
/** Answers every request with 503 while set: the server as a verifier sees it when it cannot serve. */
let unavailable = false
const streams: { res: ServerResponse; lastEventId: string | undefined }[] = []
const connected: Array<(stream: (typeof streams)[number]) => void> = []
let pollAnswer: () => object = () => ({ type: "snapshot", cursor: "p.0", revocations: [] })

const server = createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://x").pathname
  const json = (body: object, status = 200) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body))
  if (unavailable) return json({ error: "store_unavailable" }, 503)
  if (path === "/.well-known/oauth-authorization-server") {
    return json({ issuer: base, jwks_uri: `${base}/jwks`, token_endpoint: `${base}/token`, revocations_endpoint: `${base}/revocations`, revocations_stream_endpoint: `${base}/revocations/stream` })
  }
  if (path === "/jwks") {
    jwksRequests++
    return json({ keys: [known.jwk] })
  }
  if (path === "/token") tokenRequests++
  if (path === "/token") return json({ access_token: "feed-token", token_type: "Bearer", expires_in: 900 })
  if (req.headers.authorization !== "Bearer feed-token") return json({ error: "invalid_token" }, 401)
  if (path === "/revocations") {
    pollRequests++
    return json(pollAnswer())
  }
  if (path === "/revocations/stream") {
    if (!streamAvailable) return json({ error: "not_found" }, 404)
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" })
    res.write("retry: 10\n\n")
    const stream = { res, lastEventId: req.headers["last-event-id"] as string | undefined }
    streams.push(stream)
    for (const waiter of connected.splice(0)) waiter(stream)
    return
  }
  json({ error: "not_found" }, 404)
})

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}${ISSUER_PATH}`
})
after(async () => {
  for (const { res } of streams) res.destroy()
  await new Promise((resolve) => server.close(resolve))
})

function nextConnection(): Promise<(typeof streams)[number]> {
  return new Promise((resolve) => connected.push(resolve))
}

function send(stream: { res: ServerResponse }, event: string, id: string | null, data: object): void {
  stream.res.write(`event: ${event}\n${id === null ? "" : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`)
}

function nextEvent<E extends keyof RemoteVerifierEvents>(verifier: RemoteVerifier, event: E): Promise<RemoteVerifierEvents[E]> {
  return new Promise((resolve) => {
    const off = verifier.on(event, (...args) => {
      off()
      resolve(args)
    })
  })
}

function token(key: SigningKey, claims: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000)
  return signAccessToken(key, { iss: base, sub: "user-1", aud: "api", exp: now + 600, iat: now, jti: randomUUID(), sid: "session-1", gen: 0, ...claims })
}

test("stream: the snapshot makes it ready, changes revoke at once, and a dropped stream resumes from its cursor", async () => {
  const connection = nextConnection()
  const verifier = remoteVerifier({ issuer: base, clientId: "c", clientSecret: "s", mode: "stream" })
  try {
    const first = await connection
    assert.equal(first.lastEventId, undefined)
    const revokedJti = randomUUID()
    send(first, "snapshot", "e.1", { revocations: [{ kind: "token", id: revokedJti, exp: Math.floor(Date.now() / 1000) + 600 }] })
    await verifier.ready
    assert.equal(await outcome(verifier, token(known, { jti: revokedJti })), "token_revoked")
    const jwt = token(known)
    assert.equal(await outcome(verifier, jwt), "ok")

    const revoked = nextEvent(verifier, "revoked")
    send(first, "changes", "e.2", { changes: [{ op: "revoked", kind: "session", id: "session-1", exp: Math.floor(Date.now() / 1000) + 600 }] })
    assert.equal((await revoked)[0].id, "session-1")
    assert.equal(await outcome(verifier, jwt), "token_revoked")

    // The server drops the stream: the verifier comes back with the last cursor it holds.
    const second = nextConnection()
    first.res.end()
    assert.equal((await second).lastEventId, "e.2")
  } finally {
    await verifier.close()
  }
})

test("stream: a heartbeat naming a cursor we do not hold is not contact: the verifier reconnects from its own", async () => {
  const connection = nextConnection()
  const verifier = remoteVerifier({ issuer: base, clientId: "c", clientSecret: "s", mode: "stream" })
  try {
    const first = await connection
    send(first, "snapshot", "h.1", { revocations: [] })
    await verifier.ready
    const again = nextConnection()
    send(first, "heartbeat", "h.5", {})
    assert.equal((await again).lastEventId, "h.1")
  } finally {
    await verifier.close()
  }
})

test("stream: `stale` is neither contact nor a sign of life: the verifier goes stale, leaves the stream and reconnects", async () => {
  const connection = nextConnection()
  const verifier = remoteVerifier({ issuer: base, clientId: "c", clientSecret: "s", mode: "stream", maxStaleness: "300ms" })
  try {
    const first = await connection
    send(first, "snapshot", "s.1", { revocations: [] })
    await verifier.ready
    const stale = nextEvent(verifier, "stale")
    const again = nextConnection()
    // An instance whose own replica fell behind says so, and sends no heartbeat: it cannot vouch for what it holds.
    // This one keeps saying it, which must not keep the verifier on it.
    const saying = setInterval(() => send(first, "stale", null, {}), 50)
    try {
      await stale
      assert.equal(await outcome(verifier, token(known)), "store_unavailable")
      // Left once nothing that counts came for the quiet limit: behind a load balancer, the next may be in sync.
      assert.equal((await again).lastEventId, "s.1")
    } finally {
      clearInterval(saying)
    }
  } finally {
    await verifier.close()
  }
})

test("on-demand: nothing at construction; a verify polls when the last contact is older than pollInterval, and reuses the feed's token", async () => {
  let now = Date.now()
  pollAnswer = () => ({ type: "snapshot", cursor: "d.1", revocations: [] })
  const before = { polls: pollRequests, tokens: tokenRequests, jwks: jwksRequests }
  const verifier = remoteVerifier({ issuer: base, clientId: "c", clientSecret: "s", mode: "on-demand", pollInterval: "1s", maxStaleness: "5s", clock: () => now })
  try {
    // A Worker's global scope allows no I/O: constructing it asks the server nothing.
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual({ polls: pollRequests, tokens: tokenRequests, jwks: jwksRequests }, before)
    const jwt = token(known, { sid: "session-2" })
    assert.equal(await outcome(verifier, jwt), "ok")
    assert.equal(verifier.status().mode, "on-demand")
    assert.equal(pollRequests, before.polls + 1)

    // Within pollInterval, from the replica: no request.
    pollAnswer = () => ({ type: "changes", cursor: "d.2", changes: [{ op: "revoked", kind: "session", id: "session-2", exp: Math.floor(now / 1000) + 600 }] })
    now += 999
    assert.equal(await outcome(verifier, jwt), "ok")
    assert.equal(pollRequests, before.polls + 1)
    // Past it, the verify polls first, and the change is applied before the answer.
    now += 1
    assert.equal(await outcome(verifier, jwt), "token_revoked")
    assert.equal(pollRequests, before.polls + 2)
    assert.equal(tokenRequests, before.tokens + 1)
    assert.equal(jwksRequests, before.jwks + 1)

    // The server unavailable: within maxStaleness the replica answers; past it, closed; the verifier says stale.
    unavailable = true
    const other = token(known, { sid: "session-3" })
    now += 4000
    assert.equal(await outcome(verifier, other), "ok")
    const stale = nextEvent(verifier, "stale")
    now += 1001
    assert.equal(await outcome(verifier, other), "store_unavailable")
    await stale
    assert.equal(verifier.status().fresh, false)
    unavailable = false
    const fresh = nextEvent(verifier, "fresh")
    now += 1000
    assert.equal(await outcome(verifier, other), "ok")
    await fresh
  } finally {
    unavailable = false
    await verifier.close()
  }
})

test("on-demand: reading ready starts it, once, and rejects when that attempt fails", async () => {
  pollAnswer = () => ({ type: "snapshot", cursor: "r.1", revocations: [] })
  unavailable = true
  const verifier = remoteVerifier({ issuer: base, clientId: "c", clientSecret: "s", mode: "on-demand", pollInterval: "0s" })
  try {
    await assert.rejects(verifier.ready, /503/)
    assert.equal(await outcome(verifier, token(known)), "store_unavailable")
    unavailable = false
    await verifier.ready
    assert.equal(await outcome(verifier, token(known)), "ok")
  } finally {
    unavailable = false
    await verifier.close()
  }
})

test("auto: where the stream is not served (404), it polls", async () => {
  streamAvailable = false
  pollAnswer = () => ({ type: "snapshot", cursor: "p.1", revocations: [{ kind: "subject", id: "user-1", exp: Math.floor(Date.now() / 1000) + 600, cutoff: 1 }] })
  const verifier = remoteVerifier({ issuer: base, clientId: "c", clientSecret: "s", mode: "auto" })
  try {
    await verifier.ready
    assert.equal(verifier.status().mode, "poll")
    // The subject's cut-off: gen 0 is before it, gen 1 after.
    assert.equal(await outcome(verifier, token(known, { gen: 0 })), "token_revoked")
    assert.equal(await outcome(verifier, token(known, { gen: 1 })), "ok")
  } finally {
    streamAvailable = true
    await verifier.close()
  }
})

test("an unknown kid refetches the JWKS once for every verify waiting on it, then not again within the interval", async () => {
  pollAnswer = () => ({ type: "snapshot", cursor: "p.2", revocations: [] })
  const verifier = remoteVerifier({ issuer: base, clientId: "c", clientSecret: "s", mode: "poll", jwksRefetchInterval: "1h" })
  try {
    await verifier.ready
    const before = jwksRequests
    // The first load counts as the last fetch: a flood of made-up kids right after start costs nothing.
    assert.deepEqual(await Promise.all([1, 2, 3].map(() => outcome(verifier, token(unknown)))), ["token_invalid", "token_invalid", "token_invalid"])
    assert.equal(jwksRequests, before)
  } finally {
    await verifier.close()
  }
  const eager = remoteVerifier({ issuer: base, clientId: "c", clientSecret: "s", mode: "poll", jwksRefetchInterval: "0s" })
  try {
    await eager.ready
    const before = jwksRequests
    await Promise.all([1, 2, 3].map(() => outcome(eager, token(unknown))))
    assert.equal(jwksRequests, before + 1, "concurrent verifies share one refetch")
  } finally {
    await eager.close()
  }
})
