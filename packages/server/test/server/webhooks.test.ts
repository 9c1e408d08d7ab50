// Webhooks against a real receiver (helpers/webhooks.ts): a node:http server on loopback that records each request
// and answers as the test says. Signatures are checked there with the Standard Webhooks algorithm, written out
// independently.
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, test } from "node:test"
import { Pool } from "pg"
import type { ServerStore } from "revocable/stores"
import { memoryStore } from "revocable/stores/memory"
import { postgresStore } from "revocable/stores/postgres"
import { redisStore } from "revocable/stores/redis"
import { sqliteStore } from "revocable/stores/sqlite"
import { deleteKeys, REDIS_URL, uniquePrefix } from "../../../revocable/test/helpers/redis.ts"
import { loadConfig } from "../../src/server/config.ts"
import type { Resolve } from "../../src/server/webhooks/address-guard.ts"
import { checkTarget, createWebhooks, isPublic, signature } from "../../src/server/webhooks/index.ts"
import { runCli } from "../fixtures/cli-run.ts"
import { call, freePort, signIn, testServer, type TestServer } from "../helpers/server.ts"
import { addEndpoint, adminOf, deliveries, receiver, revokeSession, until, verifySignature, WEBHOOK_ENV as ENV, type Receiver } from "../helpers/webhooks.ts"

const POSTGRES_URL = process.env.REVOCABLE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test"

describe("webhooks on one server", () => {
  let server: TestServer
  let url: string
  let admin: string
  const receivers: Receiver[] = []

  before(async () => {
    server = await testServer(ENV)
    url = server.url
    admin = await adminOf(url)
  })
  after(async () => {
    await server.close()
    for (const entry of receivers) await entry.close()
  })

  test("a revocation is delivered signed as Standard Webhooks say, with the event as the admin API shows it", async () => {
    const hook = await receiver()
    receivers.push(hook)
    const { id, secret } = await addEndpoint(url, admin, hook.url, ["session.revoked"])
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
    const pair = await signIn(url, "alice")
    await revokeSession(url, admin, pair.session_id, "stolen laptop")

    const request = await hook.next()
    assert.ok(verifySignature(secret, request.headers, request.body), "the signature verifies with the endpoint's secret")
    assert.ok(!verifySignature(`whsec_${randomBytes(32).toString("base64")}`, request.headers, request.body), "and with no other")
    assert.ok(!verifySignature(secret, request.headers, request.body.replace("stolen", "stolen!")), "a changed body does not verify")
    assert.match(request.headers["webhook-id"] as string, /^msg_[\w-]{22}$/)
    assert.ok(Math.abs(Number(request.headers["webhook-timestamp"]) - Date.now() / 1000) < 300, "the timestamp is the attempt's, in seconds")
    assert.equal(request.headers["content-type"], "application/json")
    const payload = JSON.parse(request.body)
    assert.equal(payload.type, "session.revoked")
    assert.equal(payload.data.type, "session.revoked")
    assert.equal(payload.data.session_id, pair.session_id)
    assert.equal(payload.data.reason, "stolen laptop")
    assert.equal(payload.data.actor, "admin")
    assert.equal(payload.timestamp, payload.data.at)
    const [logged] = (await call(url, "GET", "/admin/audit?type=session.revoked&limit=1", { token: admin })).body.items
    assert.deepEqual(payload.data, logged, "data is the audit event as GET /admin/audit shows it")

    const [delivery] = await until(() => deliveries(url, admin, id), (items) => items[0]?.status === "delivered")
    assert.equal(delivery.id, request.headers["webhook-id"])
    assert.equal(delivery.event_type, "session.revoked")
    assert.equal(delivery.event_id, logged.id)
    assert.equal(delivery.attempts, 1)
    assert.equal(delivery.last_status, 200)
    assert.equal(delivery.next_attempt_at, null)
  })

  test("only the subscribed types are sent, each endpoint its own", async () => {
    const revocations = await receiver()
    const logins = await receiver()
    receivers.push(revocations, logins)
    const onRevocation = await addEndpoint(url, admin, revocations.url, ["session.revoked", "subject.revoked"])
    const onLogin = await addEndpoint(url, admin, logins.url, ["login.succeeded"])
    const pair = await signIn(url, "bob")
    await revokeSession(url, admin, pair.session_id)

    const received = await revocations.next()
    assert.equal(JSON.parse(received.body).type, "session.revoked")
    assert.equal(JSON.parse((await logins.next()).body).type, "login.succeeded")
    // Deliveries are written before the request that caused them is answered: these lists are complete.
    assert.deepEqual((await deliveries(url, admin, onRevocation.id)).map((entry) => entry.event_type), ["session.revoked"])
    assert.deepEqual((await deliveries(url, admin, onLogin.id)).map((entry) => entry.event_type), ["login.succeeded"])
    await call(url, "DELETE", `/admin/webhooks/${onRevocation.id}`, { token: admin })
    await call(url, "DELETE", `/admin/webhooks/${onLogin.id}`, { token: admin })
  })

  test("a receiver that answers 500, then 200, gets the same webhook-id twice, signed each time", async () => {
    const hook = await receiver((_request, index) => (index === 0 ? 500 : 200))
    receivers.push(hook)
    const { id, secret } = await addEndpoint(url, admin, hook.url, ["session.revoked"])
    await revokeSession(url, admin, (await signIn(url, "carol")).session_id)

    const first = await hook.next()
    const second = await hook.next()
    assert.equal(second.headers["webhook-id"], first.headers["webhook-id"])
    assert.equal(second.body, first.body)
    assert.ok(verifySignature(secret, second.headers, second.body))
    const [delivery] = await until(() => deliveries(url, admin, id), (items) => items[0]?.status === "delivered")
    assert.deepEqual([delivery.attempts, delivery.last_status, delivery.last_error], [2, 200, null])
    await call(url, "DELETE", `/admin/webhooks/${id}`, { token: admin })
  })

  test("a receiver that is down gets the delivery after backoff once it is back, and the delivery shows why it waited", async () => {
    const port = await freePort()
    const { id } = await addEndpoint(url, admin, `http://127.0.0.1:${port}/hook`, ["session.revoked"])
    await revokeSession(url, admin, (await signIn(url, "dave")).session_id)

    const [waiting] = await until(() => deliveries(url, admin, id), (items) => (items[0]?.attempts ?? 0) >= 1)
    assert.equal(waiting.status, "pending")
    assert.equal(waiting.last_status, null)
    assert.equal(waiting.last_error, "ECONNREFUSED")
    assert.ok(waiting.next_attempt_at !== null)

    const hook = await receiver(() => 200, port)
    receivers.push(hook)
    const request = await hook.next()
    assert.equal(request.headers["webhook-id"], waiting.id)
    const [delivered] = await until(() => deliveries(url, admin, id), (items) => items[0]?.status === "delivered")
    assert.ok(delivered.attempts >= 2)
    await call(url, "DELETE", `/admin/webhooks/${id}`, { token: admin })
  })

  test("a slow receiver does not slow the request: the revocation is answered while the receiver holds the delivery", async () => {
    const hook = await receiver(() => "hold")
    receivers.push(hook)
    const { id } = await addEndpoint(url, admin, hook.url, ["session.revoked"])
    const pair = await signIn(url, "erin")
    const arrived = hook.next()
    // Answered: the receiver holds the delivery until told, after this line.
    await revokeSession(url, admin, pair.session_id)
    const request = await arrived
    const [pending] = await deliveries(url, admin, id)
    assert.equal(pending.status, "pending", "still unanswered")
    request.answer(204)
    await until(() => deliveries(url, admin, id), (items) => items[0]?.status === "delivered")
    await call(url, "DELETE", `/admin/webhooks/${id}`, { token: admin })
  })

  test("the admin API lists endpoints without secrets, refuses bad ones with a clear error, and removes them", async () => {
    const { id } = await addEndpoint(url, admin, "http://127.0.0.1:9/hook", ["key.rotated"])
    const listed = await call(url, "GET", "/admin/webhooks", { token: admin })
    assert.equal(listed.status, 200)
    const entry = listed.body.find((item: any) => item.id === id)
    assert.deepEqual(Object.keys(entry).sort(), ["created_at", "events", "id", "url"])
    assert.equal(JSON.stringify(listed.body).includes("whsec_"), false)

    for (const [body, pattern] of [
      [{ url: "ftp://hooks.example/x", events: ["key.rotated"] }, /https:\/\//],
      [{ url: "not a url", events: ["key.rotated"] }, /absolute https:\/\/ URL/],
      [{ url: "https://user:pw@hooks.example/x", events: ["key.rotated"] }, /credentials/],
      [{ url: "https://hooks.example/x", events: ["no.such-type"] }, /events/],
      [{ url: "https://hooks.example/x", events: [] }, /events/],
    ] as const) {
      const refused = await call(url, "POST", "/admin/webhooks", { token: admin, json: body })
      assert.equal(refused.status, 400, refused.text)
      assert.equal(refused.body.error, "invalid_request")
      assert.match(refused.body.error_description, pattern)
    }
    const user = await signIn(url, "frank")
    assert.equal((await call(url, "GET", "/admin/webhooks", { token: user.access_token })).status, 403)
    assert.equal((await call(url, "GET", "/admin/webhooks")).status, 401)

    assert.equal((await call(url, "DELETE", `/admin/webhooks/${id}`, { token: admin })).status, 204)
    assert.equal((await call(url, "DELETE", `/admin/webhooks/${id}`, { token: admin })).status, 404)
    assert.equal((await call(url, "GET", `/admin/webhooks/${id}/deliveries`, { token: admin })).status, 404)
    const openapi = await call(url, "GET", "/docs/json")
    for (const [path, method] of [["/admin/webhooks", "get"], ["/admin/webhooks", "post"], ["/admin/webhooks/{id}", "delete"], ["/admin/webhooks/{id}/deliveries", "get"]] as const) {
      assert.ok(openapi.body.paths[path]?.[method]?.responses, `${method} ${path} is documented with its schemas`)
    }
    assert.ok(openapi.body.paths["/admin/webhooks"].post.responses["201"].content["application/json"].schema.properties.secret)
  })
})

test("the signature, and this test's check of it, reproduce the Standard Webhooks specification's published vector", () => {
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
  const expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
  assert.equal(signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}'), expected)
  const headers = { "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330", "webhook-signature": expected }
  assert.ok(verifySignature(secret, headers, '{"test": 2432232314}'))
})

test("the webhook settings: defaults, a retry schedule of durations, and a clear error naming a bad one", () => {
  assert.deepEqual(loadConfig({}).webhooks, { allowHttp: false, allowPrivate: false, retryDelaysMs: [5_000, 30_000, 120_000, 600_000, 3_600_000, 10_800_000, 21_600_000, 43_200_000], timeoutMs: 10_000 })
  assert.deepEqual(loadConfig({ REVOCABLE_WEBHOOKS_RETRY: "1s, 2m,3h", REVOCABLE_WEBHOOKS_TIMEOUT: "30s" }).webhooks.retryDelaysMs, [1_000, 120_000, 10_800_000])
  assert.throws(() => loadConfig({ REVOCABLE_WEBHOOKS_RETRY: "5s,soon" }), (error: Error & { variable?: string }) => error.variable === "REVOCABLE_WEBHOOKS_RETRY" && /REVOCABLE_WEBHOOKS_RETRY must be a duration/.test(error.message))
  assert.throws(() => loadConfig({ REVOCABLE_WEBHOOKS_ALLOW_HTTP: "yes" }), /REVOCABLE_WEBHOOKS_ALLOW_HTTP must be true or false/)
})

describe("webhook targets", () => {
  test("https only, no loopback or private address unless the settings allow them", () => {
    const strict = { allowHttp: false, allowPrivate: false }
    assert.equal(checkTarget("https://hooks.example/revocable", strict).href, "https://hooks.example/revocable")
    for (const url of ["http://hooks.example/x", "https://127.0.0.1/x", "https://[::1]/x", "https://10.1.2.3/x", "https://169.254.169.254/latest", "https://localhost/x", "https://[::ffff:192.168.0.1]/x", "https://0.0.0.0/x"]) {
      assert.throws(() => checkTarget(url, strict), { code: "invalid_request" }, url)
    }
    assert.equal(checkTarget("http://127.0.0.1:8080/x", { allowHttp: true, allowPrivate: true }).href, "http://127.0.0.1:8080/x")
    assert.deepEqual(["8.8.8.8", "2606:4700::1111", "172.32.0.1"].map(isPublic), [true, true, true])
    assert.deepEqual(["172.16.0.1", "100.64.0.1", "fd00::1", "fe80::1", "::ffff:127.0.0.1"].map(isPublic), [false, false, false, false, false])
  })

  test("a name that resolves to a loopback address is refused at delivery, where it is connected to", async () => {
    const hook = await receiver()
    const store = memoryStore()
    const settings = loadConfig({ ...ENV, REVOCABLE_WEBHOOKS_ALLOW_PRIVATE: "false", REVOCABLE_WEBHOOKS_RETRY: "50ms" }).webhooks
    // hooks.test is a name the test resolves itself: to the receiver's loopback address, as a rebinding DNS would.
    const asked: string[] = []
    const resolve: Resolve = (name, _options, callback) => {
      asked.push(name)
      callback(null, [{ address: "127.0.0.1", family: 4 }])
    }
    const webhooks = createWebhooks({ store, settings, retentionMs: 86_400_000, log: () => ({ info() {}, error() {} }), present: (event) => event, pollMs: 3_600_000, resolve })
    try {
      // localhost is refused by name; any other name passes the check at registration, not at connection.
      await assert.rejects(webhooks.endpoints.create(`http://localhost:${hook.port}/hook`, ["key.rotated"]), { code: "invalid_request" })
      const { endpoint } = await webhooks.endpoints.create(`http://hooks.test:${hook.port}/hook`, ["key.rotated"])
      const input = { type: "key.rotated", subject: null, actor: null, sessionId: null, ip: null, userAgent: null, reason: null, details: null }
      await webhooks.enqueue(await store.appendAudit(input))
      webhooks.start()
      const page = await until(() => webhooks.endpoints.deliveries(endpoint.id, { limit: 10 }), (answer) => answer.items[0]?.status === "failed")
      const [failed] = page.items
      assert.equal(failed?.attempts, 2)
      assert.equal(failed?.lastError, "ENOTPUBLIC")
      assert.deepEqual(new Set(asked), new Set(["hooks.test"]))
      assert.equal(hook.requests.length, 0, "the receiver on loopback was never reached")
    } finally {
      await webhooks.stop()
      await hook.close()
      await store.close()
    }
  })
})

test("a worker sends eight at a time, and each send that ends makes room for what waited, without waiting for the next poll", async () => {
  const store = memoryStore()
  const hook = await receiver(() => "hold")
  const settings = loadConfig({ REVOCABLE_WEBHOOKS_ALLOW_HTTP: "true", REVOCABLE_WEBHOOKS_ALLOW_PRIVATE: "true" }).webhooks
  const webhooks = createWebhooks({ store, settings, retentionMs: 86_400_000, log: () => ({ info() {}, error() {} }), present: (event) => event, pollMs: 3_600_000 })
  try {
    const { endpoint } = await webhooks.endpoints.create(hook.url, ["key.rotated"])
    const input = { type: "key.rotated", subject: null, actor: null, sessionId: null, ip: null, userAgent: null, reason: null, details: null }
    for (let index = 0; index < 10; index++) await webhooks.enqueue(await store.appendAudit(input))
    webhooks.start()
    const first = await Promise.all(Array.from({ length: 8 }, () => hook.next()))
    for (const request of first) request.answer(200)
    for (const request of await Promise.all([hook.next(), hook.next()])) request.answer(200)
    await until(() => webhooks.endpoints.deliveries(endpoint.id, { limit: 100 }), (page) => page.items.every((item) => item.status === "delivered"))
    assert.equal(new Set(hook.requests.map((request) => request.headers["webhook-id"])).size, 10)
  } finally {
    await webhooks.stop()
    await hook.close()
    await store.close()
  }
})

describe("the outbox is durable", () => {
  const dir = mkdtempSync(join(tmpdir(), "revocable-webhooks-"))
  const path = join(dir, "revocable.db")
  after(() => rmSync(dir, { recursive: true, force: true }))

  test("a delivery that failed before a restart (SQLite file) is sent by the restarted server, with the same id; the CLI shows it", async () => {
    const port = await freePort()
    let store: ServerStore = sqliteStore({ path })
    let server = await testServer(ENV, { store })
    let admin = await adminOf(server.url)
    const { id } = await addEndpoint(server.url, admin, `http://127.0.0.1:${port}/hook`, ["session.revoked"])
    await revokeSession(server.url, admin, (await signIn(server.url, "heidi")).session_id)
    const [waiting] = await until(() => deliveries(server.url, admin, id), (items) => (items[0]?.attempts ?? 0) >= 1)
    await server.close()
    await store.close()

    const hook = await receiver(() => 200, port)
    try {
      store = sqliteStore({ path })
      server = await testServer(ENV, { store })
      const request = await hook.next()
      assert.equal(request.headers["webhook-id"], waiting.id)
      admin = await adminOf(server.url)
      await until(() => deliveries(server.url, admin, id), (items) => items[0]?.status === "delivered")
    } finally {
      await server.close()
      await store.close()
      await hook.close()
    }

    const cli = { REVOCABLE_STORE: `sqlite:${path}`, REVOCABLE_WEBHOOKS_ALLOW_HTTP: "true", REVOCABLE_WEBHOOKS_ALLOW_PRIVATE: "true" }
    const listed = await runCli(["webhooks", "deliveries", id, "--json"], cli)
    assert.equal(listed.code, 0, listed.stderr)
    const [delivery] = JSON.parse(listed.stdout).items
    assert.deepEqual([delivery.id, delivery.status, delivery.last_status, delivery.event_type], [waiting.id, "delivered", 200, "session.revoked"])
    const table = await runCli(["webhooks", "deliveries", id], cli)
    assert.match(table.stdout, new RegExp(`${waiting.id}\\s.*session\\.revoked\\s+delivered\\s+\\d+\\s+200`))

    const added = await runCli(["webhooks", "add", "http://127.0.0.1:9/other", "--event", "login.failed,user.deleted", "--json"], cli)
    assert.equal(added.code, 0, added.stderr)
    const created = JSON.parse(added.stdout)
    assert.match(created.secret, /^whsec_/)
    assert.deepEqual(created.events, ["login.failed", "user.deleted"])
    const all = await runCli(["webhooks", "list"], cli)
    assert.match(all.stdout, new RegExp(`${created.id}\\s.*http://127\\.0\\.0\\.1:9/other\\s+login\\.failed,user\\.deleted`))
    assert.equal(all.stdout.includes("whsec_"), false)
    const refused = await runCli(["webhooks", "add", "http://hooks.example/x", "--event", "login.failed"], { REVOCABLE_STORE: `sqlite:${path}` })
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /https:\/\/.*REVOCABLE_WEBHOOKS_ALLOW_HTTP/)
    const removed = await runCli(["webhooks", "remove", created.id], cli)
    assert.equal(removed.code, 0, removed.stderr)
    assert.equal((await runCli(["webhooks", "remove", created.id], cli)).code, 1)
  })
})

const shared: { name: string; open(): ServerStore; cleanup(): Promise<void> }[] = (() => {
  const prefix = uniquePrefix("webhooks")
  const schema = `webhooks_${randomBytes(6).toString("hex")}`
  return [
    { name: "Redis", open: () => redisStore({ url: REDIS_URL }, { prefix, onWarning: () => {} }), cleanup: () => deleteKeys(REDIS_URL, [prefix]) },
    {
      name: "PostgreSQL",
      open: () => postgresStore({ connectionString: POSTGRES_URL }, { schema }),
      async cleanup() {
        const pool = new Pool({ connectionString: POSTGRES_URL, max: 1 })
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        await pool.end()
      },
    },
  ]
})()

for (const backend of shared) {
  test(`two instances on one ${backend.name} store deliver each event once`, async () => {
    const hook = await receiver()
    const stores = [backend.open(), backend.open()]
    const servers: TestServer[] = []
    try {
      for (const store of stores) servers.push(await testServer(ENV, { store }))
      const [one, two] = servers as [TestServer, TestServer]
      const admins = [await adminOf(one.url), await adminOf(two.url)]
      const { id } = await addEndpoint(one.url, admins[0] as string, hook.url, ["session.revoked"])
      const sessions = await Promise.all(Array.from({ length: 12 }, (_, index) => signIn(one.url, `user-${index}`)))
      // Both instances enqueue and wake at once: each one's pass finds the other's deliveries too.
      await Promise.all(sessions.map((pair, index) => revokeSession((index % 2 === 0 ? one : two).url, admins[index % 2] as string, pair.session_id)))
      await until(() => deliveries(two.url, admins[1] as string, id), (items) => items.length === 12 && items.every((entry) => entry.status === "delivered"))
    } finally {
      for (const server of servers) await server.close()
      for (const store of stores) await store.close()
      await hook.close()
      await backend.cleanup()
    }
    const ids = hook.requests.map((request) => request.headers["webhook-id"])
    assert.equal(ids.length, 12, "no delivery was sent twice")
    assert.equal(new Set(ids).size, 12)
  })
}
