import assert from "node:assert/strict"
import { createHash, randomBytes } from "node:crypto"
import { connect } from "node:net"
import { after, before, describe, mock, test } from "node:test"
import { buildServer } from "../../src/server/app.ts"
import { loadConfig } from "../../src/server/config.ts"
import { serverMetrics } from "../../src/server/metrics.ts"
import { createAuth } from "revocable"
import { memoryStore } from "revocable/stores/memory"
import type { ChangeListener, ServerStore } from "revocable/stores"
import { clientDirectory } from "../../src/server/client-directory.ts"
import { flakyStore } from "../../../revocable/test/helpers/flaky.ts"
import { deleteKeys, REDIS_URL } from "../../../revocable/test/helpers/redis.ts"
import { call, PASSWORD, signIn, testServer, type TestServer } from "../helpers/server.ts"

/** Every route of DESIGN.md "Auth server". */
const DESIGN_ROUTES = [
  "GET /", "GET /healthz", "GET /readyz", "POST /auth/register", "POST /auth/login", "POST /auth/refresh", "POST /auth/logout",
  "POST /auth/logout-all", "GET /auth/sessions", "DELETE /auth/sessions/{sid}", "POST /auth/password", "GET /me", "POST /oauth/token",
  "POST /oauth/revoke", "POST /oauth/introspect", "GET /.well-known/jwks.json", "GET /.well-known/oauth-authorization-server",
  "GET /admin/revocations", "POST /admin/revocations", "DELETE /admin/revocations/{kind}/{id}", "GET /admin/users",
  "GET /admin/users/{sub}/sessions", "POST /admin/users/{sub}/suspend", "POST /admin/users/{sub}/unsuspend", "POST /admin/keys/rotate",
  "DELETE /admin/keys/{kid}", "GET /metrics", "GET /docs",
]

let server: TestServer
let url: string

before(async () => {
  server = await testServer()
  url = server.url
})
after(() => server.close())

describe("bad requests are answered, never with a 500", () => {
  test("oversized headers: 431", async () => {
    const answer = await call(url, "GET", "/healthz", { headers: { "x-padding": "x".repeat(20_000) } })
    assert.equal(answer.status, 431)
    assert.equal(answer.body.error, "invalid_request")
  })

  test("an oversized body: 413", async () => {
    const answer = await call(url, "POST", "/auth/login", { json: { username: "big", password: "x".repeat(20_000) } })
    assert.equal(answer.status, 413)
    assert.deepEqual(answer.body, { error: "invalid_request", error_description: "The request body is too large." })
    const form = await call(url, "POST", "/oauth/token", { form: { grant_type: "password", username: "x", password: "y".repeat(20_000) } })
    assert.equal(form.status, 413)
  })

  test("malformed JSON: 400, and the body is not quoted back", async () => {
    const answer = await call(url, "POST", "/auth/login", {
      body: '{"username": "alice", "password": "hunter2-secret',
      headers: { "content-type": "application/json" },
    })
    assert.equal(answer.status, 400)
    assert.deepEqual(answer.body, { error: "invalid_request", error_description: "The request body is not valid JSON." })
    assert.ok(!answer.text.includes("hunter2"))
  })

  test("an empty JSON body, a __proto__ key and wrong types: 400", async () => {
    for (const body of ["", '{"__proto__": {"admin": true}, "username": "a", "password": "b"}', '{"constructor": {"prototype": {"x": 1}}}', "[1,2]", "null"]) {
      const answer = await call(url, "POST", "/auth/login", { body, headers: { "content-type": "application/json" } })
      assert.equal(answer.status, 400, body)
      assert.equal(answer.body.error, "invalid_request", body)
    }
  })

  test("an unsupported content type: 415; an unknown route: 404", async () => {
    const xml = await call(url, "POST", "/auth/login", { body: "<login/>", headers: { "content-type": "application/xml" } })
    assert.equal(xml.status, 415)
    assert.equal(xml.body.error, "invalid_request")
    const missing = await call(url, "GET", "/nowhere")
    assert.equal(missing.status, 404)
    assert.equal(missing.body.error, "not_found")
  })

  test("a URL the router cannot decode: 400; a path parameter longer than it takes: 414; both in JSON, the URL not quoted", async () => {
    const undecodable = await call(url, "DELETE", "/auth/sessions/%zz?access_token=not-to-be-echoed")
    assert.equal(undecodable.status, 400)
    assert.deepEqual(undecodable.body, { error: "invalid_request", error_description: "The request is invalid." })
    // The longest id the core takes is 1024 characters; the router measures a parameter once decoded.
    for (const id of ["x".repeat(1025), "é".repeat(1025)]) {
      const long = await call(url, "GET", `/admin/users/${encodeURIComponent(id)}?access_token=not-to-be-echoed`)
      assert.equal(long.status, 414)
      assert.deepEqual(long.body, { error: "invalid_request", error_description: "A path parameter is longer than 1024 characters." })
    }
    assert.equal((await call(url, "GET", `/admin/users/${encodeURIComponent("é".repeat(1024))}`)).status, 401)
  })

  test("what Node would answer with an empty body, or not at all, is answered in JSON: no Host, an unmet Expect, CONNECT", async () => {
    const port = Number(new URL(url).port)
    for (const [request, status, description] of [
      ["GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", 400, "The request has no Host header."],
      ["POST /auth/login HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", 417, "Only Expect: 100-continue is supported."],
      ["CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n", 405, "CONNECT is not supported."],
    ] as const) {
      const answer = await rawRequest(port, request)
      assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), request)
      assert.match(answer, /\r\ncontent-type: application\/json/i, request)
      assert.deepEqual(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)), { error: "invalid_request", error_description: description })
    }
    // HTTP/1.0 needs no Host.
    assert.match(await rawRequest(port, "GET /healthz HTTP/1.0\r\n\r\n"), /^HTTP\/1\.1 200 /)
  })

  test("hostile ids in paths and queries are refused cleanly", async () => {
    const pair = await signIn(url, "pathological")
    for (const path of ["/auth/sessions/..%2F..%2Fetc", `/auth/sessions/${"x".repeat(300)}`, "/auth/sessions/%00"]) {
      const answer = await call(url, "DELETE", path, { token: pair.access_token })
      assert.ok([400, 404, 414].includes(answer.status), `${path}: ${answer.status}`)
      assert.equal(typeof answer.body.error, "string")
    }
  })
})

/** Sends the bytes as they are; resolves all the server answers until it closes the connection. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1")
    const chunks: Buffer[] = []
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("error", reject)
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")))
    socket.write(text)
  })
}

describe("the store unreachable", () => {
  test("logins, grants and introspection answer 503, never 500; /readyz says so, /healthz stays up", async () => {
    const store = flakyStore(1000)
    const flaky = await testServer({}, { store })
    try {
      const pair = await signIn(flaky.url, "flaky")
      const client = await clientDirectory(store).create("rs")
      store.down = true
      const login = await call(flaky.url, "POST", "/auth/login", { json: { username: "flaky", password: PASSWORD } })
      assert.equal(login.status, 503)
      assert.equal(login.body.error, "store_unavailable")
      const grant = await call(flaky.url, "POST", "/oauth/token", { form: { grant_type: "password", username: "flaky", password: PASSWORD } })
      assert.equal(grant.status, 503)
      assert.equal(grant.body.error, "temporarily_unavailable")
      const introspect = await call(flaky.url, "POST", "/oauth/introspect", { form: { token: pair.access_token, client_id: client.clientId, client_secret: client.clientSecret } })
      assert.equal(introspect.status, 503)
      const logout = await call(flaky.url, "POST", "/auth/logout", { token: pair.access_token })
      assert.equal(logout.status, 503)
      assert.equal(logout.body.error, "store_unavailable")
      const refresh = await call(flaky.url, "POST", "/auth/refresh", { json: { refresh_token: pair.refresh_token } })
      assert.equal(refresh.status, 503)
      const ready = await call(flaky.url, "GET", "/readyz")
      assert.equal(ready.status, 503)
      assert.equal(ready.body.store, "down")
      assert.equal((await call(flaky.url, "GET", "/healthz")).status, 200)
      const metrics = (await call(flaky.url, "GET", "/metrics")).text
      assert.match(metrics, /revocable_store_errors_total\{source="server"\} [1-9]/)
      assert.match(metrics, /revocable_store_errors_total\{source="core"\} [1-9]/)
      store.down = false
      assert.equal((await call(flaky.url, "GET", "/readyz")).status, 200)
    } finally {
      store.down = false
      await flaky.close()
    }
  })

  test("fail-closed by default: a stale replica and an unreachable store answer 503 store_unavailable, not the token's claims", async () => {
    const store = flakyStore(1000)
    const flaky = await testServer({ REVOCABLE_MAX_STALENESS: "5s" }, { store })
    try {
      const pair = await signIn(flaky.url, "closed")
      store.down = true
      mock.timers.enable({ apis: ["Date"], now: Date.now() + 60_000 })
      const me = await call(flaky.url, "GET", "/me", { token: pair.access_token })
      assert.equal(me.status, 503)
      assert.equal(me.body.error, "store_unavailable")
      const metrics = (await call(flaky.url, "GET", "/metrics")).text
      assert.match(metrics, /^revocable_verifications_total\{outcome="store_unavailable"\} 1$/m, "the verify itself refused")
      const grant = await call(flaky.url, "POST", "/oauth/token", { form: { grant_type: "password", username: "closed", password: PASSWORD } })
      assert.equal(grant.status, 503)
      assert.equal(grant.headers.get("cache-control"), "no-store")
    } finally {
      mock.timers.reset()
      store.down = false
      await flaky.close()
    }
  })

  test("with fail-open, each verify answered from a stale replica is counted in the metrics; what the replica holds revoked stays refused", async () => {
    // Through the server's own routes the store is needed anyway (users, clients): the count is the core's.
    const store = flakyStore(1000)
    const core = createAuth({ issuer: "https://issuer.test", audience: "api", store, maxStaleness: "5s", onStoreUnavailable: "fail-open" })
    const metrics = serverMetrics(core)
    const coreErrors = async () => Number(/^revocable_store_errors_total\{source="core"\} (\d+)$/m.exec(await metrics.registry.metrics())?.[1] ?? 0)
    const failedOpen = async () => Number(/^revocable_fail_open_total (\d+)$/m.exec(await metrics.registry.metrics())?.[1])
    try {
      const pair = await core.issue("alice")
      const revoked = await core.issue("alice")
      await core.revoke(revoked.accessToken)
      const before = await coreErrors()
      assert.equal(await failedOpen(), 0)
      store.down = true
      mock.timers.enable({ apis: ["Date"], now: Date.now() + 60_000 })
      for (let i = 0; i < 3; i++) assert.equal((await core.verify(pair.accessToken)).sub, "alice")
      await assert.rejects(core.verify(revoked.accessToken), { code: "token_revoked" })
      assert.equal(await coreErrors(), before + 4)
      assert.equal(await failedOpen(), 4, "every verify answered open is counted as such")
    } finally {
      mock.timers.reset()
      store.down = false
      metrics.close()
      await core.close()
    }
  })

  test("/readyz reports a stale replica when the feed falls silent, and recovers on its next heartbeat", async () => {
    const store = flakyStore(1000)
    const flaky = await testServer({ REVOCABLE_MAX_STALENESS: "5s" }, { store })
    try {
      assert.equal((await call(flaky.url, "GET", "/readyz")).body.replica, "in-sync")
      mock.timers.enable({ apis: ["Date"], now: Date.now() + 60_000 })
      const stale = await call(flaky.url, "GET", "/readyz")
      assert.equal(stale.status, 503)
      assert.deepEqual(stale.body, { status: "unavailable", store: "up", replica: "stale" })
      store.heartbeat()
      assert.deepEqual((await call(flaky.url, "GET", "/readyz")).body, { status: "ready", store: "up", replica: "in-sync" })
    } finally {
      mock.timers.reset()
      await flaky.close()
    }
  })
})

describe("logs", () => {
  test("never contain a password, a token, a refresh hash or a client secret", async () => {
    const lines: string[] = []
    const logged = await testServer({ REVOCABLE_ADMIN_PASSWORD: "admin bootstrap secret" }, { logger: { level: "trace", stream: { write: (line: string) => lines.push(line) } } })
    try {
      const base = logged.url
      const secrets: string[] = [PASSWORD, "admin bootstrap secret", "hunter2-typo-password", "a brand new passphrase"]
      const pair = await signIn(base, "logged")
      secrets.push(pair.access_token, pair.refresh_token)
      const refreshJti = JSON.parse(Buffer.from(pair.refresh_token.split(".")[1] as string, "base64url").toString()).jti
      secrets.push(createHash("sha256").update(refreshJti).digest("base64url"))
      const { clientId, clientSecret } = await clientDirectory(logged.store).create("rs")
      secrets.push(clientSecret)

      await call(base, "POST", "/auth/login", { json: { username: "logged", password: "hunter2-typo-password" } })
      await call(base, "POST", "/auth/login", { body: `{"username":"logged","password":"${PASSWORD}`, headers: { "content-type": "application/json" } })
      const next = (await call(base, "POST", "/auth/refresh", { json: { refresh_token: pair.refresh_token } })).body
      secrets.push(next.access_token, next.refresh_token)
      await call(base, "POST", "/auth/refresh", { json: { refresh_token: pair.refresh_token } })
      await call(base, "GET", `/me?access_token=${next.access_token}`, { token: next.access_token })
      await call(base, "POST", "/oauth/introspect", { form: { token: next.access_token }, headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}` } })
      await call(base, "POST", "/oauth/token", { form: { grant_type: "password", username: "logged", password: PASSWORD } })
      await call(base, "POST", "/oauth/revoke", { form: { token: next.refresh_token } })
      const third = await signIn(base, "logged", PASSWORD, false)
      secrets.push(third.access_token, third.refresh_token)
      await call(base, "POST", "/auth/password", { token: third.access_token, json: { current_password: PASSWORD, new_password: "a brand new passphrase" } })
      await call(base, "POST", "/auth/login", { json: { username: "logged", password: "a brand new passphrase", cookie: true } })
      await call(base, "GET", "/me", { headers: { cookie: `access_token=${third.access_token}`, authorization: `Bearer ${third.access_token}` } })

      const text = lines.join("")
      assert.ok(lines.length > 20, "the server logged its requests")
      assert.match(text, /"url":"\/me"/)
      for (const secret of secrets) assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 6)}…) was logged`)
      for (const segment of [pair.access_token, next.refresh_token].flatMap((token) => token.split("."))) {
        assert.ok(!text.includes(segment), "a token segment was logged")
      }
    } finally {
      await logged.close()
    }
  })
})

describe("start", () => {
  test("building the server emits no warning: no Ajv strict-mode message, no process warning", async () => {
    const warned = mock.method(console, "warn", () => undefined)
    const warnings: Error[] = []
    const onWarning = (warning: Error) => void warnings.push(warning)
    process.on("warning", onWarning)
    try {
      const started = await testServer()
      await started.close()
      // process.emitWarning emits on the next tick.
      await new Promise((resolve) => setImmediate(resolve))
      assert.deepEqual(warned.mock.calls.map((call) => call.arguments.join(" ")), [])
      assert.deepEqual(warnings.map((warning) => warning.message), [])
    } finally {
      process.off("warning", onWarning)
      warned.mock.restore()
    }
  })

  test("the Redis store's warnings at open are logged once, at level warn, and still emitted as process warnings", async () => {
    // The test Redis runs without persistence.
    const prefix = `srv_warn_${process.pid}_${randomBytes(4).toString("hex")}`
    const lines: string[] = []
    const emitted: Array<Error & { code?: string }> = []
    const onWarning = (warning: Error) => void emitted.push(warning)
    process.on("warning", onWarning)
    try {
      const config = loadConfig({ REVOCABLE_PORT: "0", REVOCABLE_STORE: REDIS_URL, REVOCABLE_STORE_NAMESPACE: prefix, REVOCABLE_INSECURE_PLAINTEXT_KEYS: "true" })
      const app = await buildServer(config, { logger: { level: "info", stream: { write: (line: string) => lines.push(line) } } })
      await app.close()
      await new Promise((resolve) => setImmediate(resolve))
      const logged = lines.map((line) => JSON.parse(line) as { level: number; code?: string; msg: string }).filter((entry) => entry.code === "REVOCABLE_REDIS_PERSISTENCE")
      assert.equal(logged.length, 1)
      assert.equal(logged[0]?.level, 40)
      assert.match(logged[0]?.msg ?? "", /^Redis persistence is off/)
      assert.equal(emitted.filter((warning) => warning.code === "REVOCABLE_REDIS_PERSISTENCE").length, 1)
    } finally {
      process.off("warning", onWarning)
      await deleteKeys(REDIS_URL, [prefix])
    }
  })
})

describe("metrics, discovery pages and documentation", () => {
  test("/metrics counts verifies by outcome, revocations by grain, reuse, login failures; replica size and feed", async () => {
    const pair = await signIn(url, "measured")
    await call(url, "GET", "/me", { token: pair.access_token })
    await call(url, "POST", "/auth/login", { json: { username: "measured", password: "wrong password" } })
    const next = (await call(url, "POST", "/auth/refresh", { json: { refresh_token: pair.refresh_token } })).body
    await call(url, "POST", "/auth/refresh", { json: { refresh_token: pair.refresh_token } })
    await call(url, "GET", "/me", { token: next.access_token })
    const other = await signIn(url, "measured", PASSWORD, false)
    await call(url, "POST", "/auth/logout-all", { token: other.access_token })

    const answer = await call(url, "GET", "/metrics")
    assert.equal(answer.status, 200)
    assert.match(answer.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/)
    const text = answer.text
    const value = (line: string): number => Number(new RegExp(`^${line.replace(/[{}"]/g, (c) => `\\${c}`)} (\\d+)`, "m").exec(text)?.[1] ?? Number.NaN)
    assert.ok(value('revocable_verifications_total{outcome="ok"}') >= 2)
    assert.ok(value('revocable_verifications_total{outcome="token_revoked"}') >= 1)
    assert.ok(value('revocable_revocations_total{kind="session"}') >= 1)
    assert.ok(value('revocable_revocations_total{kind="subject"}') >= 1)
    assert.ok(value("revocable_refresh_reuse_detected_total") >= 1)
    assert.ok(value('revocable_login_failures_total{reason="invalid_credentials"}') >= 1)
    assert.ok(value("revocable_replica_entries") >= 2)
    assert.equal(value("revocable_replica_staleness_seconds"), 0)
    assert.equal(value("revocable_feed_reconnects_total"), 0)
    assert.match(text, /^process_cpu_user_seconds_total /m)
  })

  test("a feed reconnect is counted and the replica size reloaded from the snapshot", async () => {
    const inner = memoryStore()
    const listeners: ChangeListener[] = []
    const store = Object.assign(Object.create(inner) as ServerStore, {
      subscribe: async (listener: ChangeListener) => {
        listeners.push(listener)
        return inner.subscribe(listener)
      },
    })
    const watched = await testServer({}, { store })
    try {
      const pair = await signIn(watched.url, "reconnecting")
      await call(watched.url, "POST", "/auth/logout", { token: pair.access_token })
      for (const listener of listeners) listener({ type: "reset" })
      const metrics = (await call(watched.url, "GET", "/metrics")).text
      assert.match(metrics, /^revocable_feed_reconnects_total 1$/m)
      assert.match(metrics, /^revocable_replica_entries 1$/m)
      assert.equal((await call(watched.url, "GET", "/me", { token: pair.access_token })).body.error, "token_revoked")
    } finally {
      await watched.close()
    }
  })

  test("GET / lists every route of DESIGN.md; /healthz answers ok", async () => {
    const welcome = await call(url, "GET", "/")
    assert.equal(welcome.status, 200)
    assert.equal(welcome.body.name, "revocable")
    const listed = new Set(welcome.body.endpoints.map((entry: { method: string; path: string }) => `${entry.method} ${entry.path}`))
    for (const route of DESIGN_ROUTES) assert.ok(listed.has(route), route)
    assert.deepEqual((await call(url, "GET", "/healthz")).body, { status: "ok" })
    assert.deepEqual((await call(url, "GET", "/readyz")).body, { status: "ready", store: "up", replica: "in-sync" })
  })

  test("/docs/json is an OpenAPI 3.1 document of every route, built from the route schemas; /docs is an interactive page served without a CDN", async () => {
    const json = await call(url, "GET", "/docs/json")
    assert.equal(json.status, 200)
    const doc = json.body
    assert.equal(doc.openapi, "3.1.0")
    for (const route of DESIGN_ROUTES) {
      const [method, path] = route.split(" ") as [string, string]
      assert.ok(doc.paths[path]?.[method.toLowerCase()], route)
    }
    const token = doc.paths["/oauth/token"].post
    assert.ok(token.requestBody.content["application/x-www-form-urlencoded"].schema.properties.grant_type)
    assert.ok(token.responses["200"].content["application/json"].schema.properties.access_token)
    const login = doc.paths["/auth/login"].post
    assert.deepEqual(login.requestBody.content["application/json"].schema.required, ["username", "password"])
    assert.deepEqual(doc.paths["/me"].get.security, [{ bearer: [] }])
    assert.deepEqual(doc.paths["/oauth/introspect"].post.security, [{ client: [] }])
    assert.match(doc.paths["/admin/users"].get.description, /admin/)
    const sessions = doc.paths["/auth/sessions/{sid}"].delete
    assert.deepEqual(sessions.parameters.map((parameter: { name: string; in: string }) => [parameter.name, parameter.in]), [["sid", "path"]])

    const html = await call(url, "GET", "/docs")
    assert.equal(html.status, 200)
    assert.match(html.headers.get("content-type") ?? "", /^text\/html/)
    assert.match(String(html.headers.get("content-security-policy")), /default-src 'none'; script-src 'self';/)
    // Every script and stylesheet of the page is one of this server's files.
    const assets = [...html.text.matchAll(/(?:src|href)="([^"]*)"/g)].map((match) => match[1] as string)
    assert.ok(assets.some((asset) => asset.endsWith(".js")))
    for (const asset of assets) {
      assert.match(asset, /^\/docs\/static\//, asset)
      assert.equal((await call(url, "GET", asset)).status, 200, asset)
    }
  })
})
