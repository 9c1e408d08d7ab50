// The PostgreSQL store when the server goes away: against a cluster this file starts on a free port, stops,
// crashes and restarts.
import assert from "node:assert/strict"
import { fork } from "node:child_process"
import { randomBytes } from "node:crypto"
import { setTimeout as delay } from "node:timers/promises"
import { after, before, describe, mock, test } from "node:test"
import { Client } from "pg"
import { createAuth, type Auth, type TokenPair } from "../../src/index.ts"
import type { Store } from "../../src/core/store.ts"
import { postgresStore } from "../../src/stores/postgres/index.ts"
import { createCluster, createProxy, postgresBinaries, type Cluster, type Proxy } from "../helpers/postgres.ts"
import { assertStillRevoked } from "../helpers/restart.ts"
import { createInput, nextEvent, revocation, rotateInput, sessionInput } from "../../src/testing/conformance.ts"

const bin = postgresBinaries()
// Under CI a missing server fails the suite; elsewhere the file is skipped.
const skip = bin === null && process.env.CI !== "true" ? "no PostgreSQL server binaries under /usr/lib/postgresql" : false

const HEARTBEAT_MS = 100

describe("postgres store faults", { skip }, () => {
  let cluster: Cluster
  const closing: Array<() => Promise<unknown>> = []

  before(async () => {
    if (bin === null) throw new Error("PostgreSQL server binaries are missing under /usr/lib/postgresql.")
    cluster = await createCluster(bin)
  })
  after(async () => {
    for (const close of closing.reverse()) await close().catch(() => undefined)
    await cluster?.destroy()
  })

  function schema(): string {
    return `f_${randomBytes(4).toString("hex")}`
  }

  function makeStore(port: number, name: string): Store {
    const store = postgresStore({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` }, { schema: name, heartbeatMs: HEARTBEAT_MS })
    closing.push(() => store.close())
    return store
  }

  function makeAuth(store: Store, failOpen = false): Auth {
    const auth = createAuth({
      issuer: "https://issuer.test",
      audience: "api",
      store,
      maxStaleness: "5s",
      onStoreUnavailable: failOpen ? "fail-open" : "fail-closed",
      purgeInterval: false,
    })
    closing.push(() => auth.close())
    return auth
  }

  test("with the server stopped: the replica answers, then verify fails closed; writes reject; it recovers by itself", async () => {
    mock.timers.enable({ apis: ["Date"], now: Date.now() })
    try {
      const name = schema()
      const proxy: Proxy = await createProxy(cluster.port)
      closing.push(() => proxy.close())
      // The instance under test reaches the server through a proxy, so that it can stay cut off after the server
      // is back while another instance writes; it counts the verifies it had to send to the store.
      const inner = makeStore(proxy.port, name)
      let storeReads = 0
      const isolated: Store = { ...inner, isRevoked: (query) => (storeReads++, inner.isRevoked(query)) }
      const other = makeAuth(makeStore(cluster.port, name))
      await other.ready()
      const auth = makeAuth(isolated)
      const open = makeAuth(makeStore(proxy.port, name), true)
      await Promise.all([auth.ready(), open.ready()])

      const pair = await other.issue("alice")
      const doomed = await other.issue("bob")
      await other.revoke(doomed.accessToken)
      await eventually("both instances refuse the revoked token", async () => (await code(auth, doomed)) === "token_revoked" && (await code(open, doomed)) === "token_revoked")

      proxy.cut()
      await cluster.stop("fast")
      assert.equal((await auth.verify(pair.accessToken)).sub, "alice", "a fresh replica answers without the store")
      await assert.rejects(auth.verify(doomed.accessToken), { code: "token_revoked" })
      await assert.rejects(auth.revoke(pair.accessToken), { code: "store_unavailable" })
      await assert.rejects(auth.refresh(pair.refreshToken), { code: "store_unavailable" })

      const failOpenEvents: boolean[] = []
      open.on("store-unavailable", (event) => failOpenEvents.push(event.failOpen))
      // Past maxStaleness (no heartbeat can arrive any more), verify must ask the store.
      await eventually("verify fails closed once the replica is stale", async () => {
        mock.timers.tick(5001)
        return (await code(auth, pair)) === "store_unavailable"
      })
      assert.equal((await open.verify(pair.accessToken)).sub, "alice", "fail-open answers from the stale replica")
      await assert.rejects(open.verify(doomed.accessToken), { code: "token_revoked" })
      assert.deepEqual(failOpenEvents, [true, true], "each answer from the stale replica is reported")

      await cluster.start()
      await other.revoke(pair.accessToken)
      proxy.restore()
      await eventually("the instance resyncs and refuses, from its replica, what was revoked while it was cut off", async () => {
        const reads = storeReads
        return (await code(auth, pair)) === "token_revoked" && storeReads === reads
      })
      const fresh = await auth.issue("carol")
      assert.equal((await auth.verify(fresh.accessToken)).sub, "carol")
    } finally {
      mock.timers.reset()
    }
  })

  test("no acknowledged revocation is lost when the server crashes", async () => {
    const name = schema()
    const auth = makeAuth(makeStore(cluster.port, name))
    const pair = await auth.issue("alice")
    await auth.revoke(pair.accessToken)
    const store = makeStore(cluster.port, name)
    await store.open()
    const ids = Array.from({ length: 50 }, (_, i) => `jti-${i}`)
    await Promise.all(ids.map((id) => store.revoke(revocation({ id, createdAt: Date.now(), expiresAt: Date.now() + 3_600_000 }))))
    await store.revoke(revocation({ kind: "subject", id: "bob", subject: "bob", createdAt: Date.now(), expiresAt: Date.now() + 3_600_000 }))

    await cluster.stop("immediate")
    await cluster.start()

    const reopened = makeStore(cluster.port, name)
    await reopened.open()
    const live = new Set((await reopened.snapshot(Date.now())).map((row) => `${row.kind}:${row.id}`))
    for (const id of ids) assert.ok(live.has(`token:${id}`), id)
    assert.ok(live.has("subject:bob"))
    const restarted = makeAuth(reopened)
    await assert.rejects(restarted.verify(pair.accessToken), { code: "token_revoked" })
  })

  test("a revocation reaches another instance before it is durable; its call resolves only once it is", async () => {
    // A synchronous standby that never comes holds every commit that waits for durability, for as long as the
    // test wants: sessions here commit with synchronous_commit = local (no wait), the writer's with on.
    const held = await createCluster(bin as string, ["synchronous_standby_names=nobody", "synchronous_commit=local"])
    try {
      const name = schema()
      const reader = makeAuth(makeStore(held.port, name))
      await reader.ready()
      const pair = await reader.issue("alice")
      const writerStore = postgresStore(
        { connectionString: `${held.url}?options=${encodeURIComponent("-c synchronous_commit=on")}` },
        { schema: name, heartbeatMs: HEARTBEAT_MS },
      )
      closing.push(() => writerStore.close())
      const writer = makeAuth(writerStore)
      await writer.ready()
      const { jti } = await writer.verify(pair.accessToken)

      const heard = new Promise((resolve) => reader.on("revoked", resolve))
      let acknowledged = false
      const revoking = writer.revoke(pair.accessToken).then((revocation) => {
        acknowledged = true
        return revocation
      })
      await heard
      await assert.rejects(reader.verify(pair.accessToken), { code: "token_revoked" })
      assert.equal(acknowledged, false, "the writer's call waits for durability")

      // Cancelled, the wait for the standby ends with the commit kept: it is on the local disk by then.
      const admin = new Client({ connectionString: held.url })
      await admin.connect()
      let released = 0
      while (released === 0) {
        ;({ rowCount: released } = (await admin.query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")) as { rowCount: number })
      }
      await admin.end()
      assert.equal((await revoking)?.id, jti)
      // Acknowledged means on disk: a crash now keeps it.
      await held.stop("immediate")
      await held.start()
      const after = makeStore(held.port, name)
      await after.open()
      assert.deepEqual((await after.snapshot(Date.now())).map((row) => row.id), [jti])
    } finally {
      await held.destroy()
    }
  })

  test("a server that refuses pg_logical_emit_message: revocations flush by updating a row instead, with a warning, and survive a crash", async () => {
    const role = `app_${randomBytes(3).toString("hex")}`
    const setup = new Client({ connectionString: cluster.url })
    await setup.connect()
    await setup.query(`CREATE ROLE ${role} LOGIN; GRANT CREATE ON DATABASE postgres TO ${role}`)
    await setup.query("REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) FROM PUBLIC")
    await setup.end()
    const warnings: Array<Error & { code?: string }> = []
    const onWarning = (warning: Error) => warnings.push(warning)
    process.on("warning", onWarning)
    try {
      const name = schema()
      const store = postgresStore({ connectionString: cluster.url.replace("postgres@", `${role}@`) }, { schema: name, heartbeatMs: HEARTBEAT_MS })
      closing.push(() => store.close())
      await store.open()
      const ids = Array.from({ length: 20 }, (_, i) => `refused-${i}`)
      await Promise.all(ids.map((id) => store.revoke(revocation({ id, createdAt: Date.now(), expiresAt: Date.now() + 3_600_000 }))))
      await store.revoke(revocation({ id: "after", createdAt: Date.now(), expiresAt: Date.now() + 3_600_000 }))
      assert.deepEqual(warnings.filter((warning) => warning.code === "REVOCABLE_POSTGRES_FLUSH").length, 1)

      await cluster.stop("immediate")
      await cluster.start()
      const reopened = makeStore(cluster.port, name)
      await reopened.open()
      const live = new Set((await reopened.snapshot(Date.now())).map((row) => row.id))
      for (const id of [...ids, "after"]) assert.ok(live.has(id), id)
    } finally {
      process.off("warning", onWarning)
      const restore = new Client({ connectionString: cluster.url })
      await restore.connect()
      await restore.query("GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) TO PUBLIC")
      await restore.end()
    }
  })

  test("what a process revoked stays refused after it exits and PostgreSQL crashes: a new instance refuses it until exp + leeway", async () => {
    const name = schema()
    const writer = spawnApp(cluster.port, name)
    closing.push(() => writer.stop())
    await writer.ready
    const token = (await writer.call("issue", "alice")) as TokenPair
    const session = (await writer.call("issue", "bob")) as TokenPair
    const subject = [(await writer.call("issue", "carol")) as TokenPair, (await writer.call("issue", "carol")) as TokenPair]
    const kept = (await writer.call("issue", "dave")) as TokenPair
    await writer.call("revoke", token.accessToken)
    await writer.call("logout", session.accessToken, false)
    await writer.call("logout", (subject[0] as TokenPair).accessToken, true)
    await writer.stop()
    await cluster.stop("immediate")
    await cluster.start()

    const reader = makeAuth(makeStore(cluster.port, name))
    await reader.ready()
    try {
      await assertStillRevoked(reader, { token, session, subject, kept })
    } finally {
      mock.timers.reset()
    }
  })

  test("two application processes: a revoke, a logout everywhere and a retired key in A are refused in B", async () => {
    const name = schema()
    const a = spawnApp(cluster.port, name)
    closing.push(() => a.stop())
    await a.ready
    const b = spawnApp(cluster.port, name)
    closing.push(() => b.stop())
    await b.ready

    const revoked = (await b.call("issue", "carol")) as TokenPair
    assert.equal(((await b.call("verify", revoked.accessToken)) as { sub: string }).sub, "carol")
    await a.call("revoke", revoked.accessToken)
    await eventually("B refuses the token A revoked", async () => (await b.code("verify", revoked.accessToken)) === "token_revoked")

    const first = (await b.call("issue", "dave")) as TokenPair
    const second = (await b.call("issue", "dave")) as TokenPair
    const bystander = (await b.call("issue", "erin")) as TokenPair
    const inA = (await a.call("issue", "dave")) as TokenPair
    await a.call("logout", inA.accessToken, true)
    for (const pair of [first, second]) {
      await eventually("B refuses dave's tokens after dave logged out everywhere in A", async () => (await b.code("verify", pair.accessToken)) === "token_revoked")
    }
    assert.equal(((await b.call("verify", bystander.accessToken)) as { sub: string }).sub, "erin")
    const again = (await b.call("issue", "dave")) as TokenPair
    assert.equal(((await b.call("verify", again.accessToken)) as { sub: string }).sub, "dave", "a new login after it is valid")

    const signed = (await b.call("issue", "frank")) as TokenPair
    const { kid } = JSON.parse(Buffer.from(signed.accessToken.split(".")[0] as string, "base64url").toString()) as { kid: string }
    await a.call("retireKey", kid)
    await eventually("B refuses tokens of the key A retired", async () => (await b.code("verify", signed.accessToken)) === "token_revoked")
  })
  test("with the server stopped (SIGSTOP): every call rejects while it is still stopped, on a pooled connection or a new one; resumed, the store works and its feed syncs and delivers again", async () => {
    const name = schema()
    const bounded = () => {
      const store = postgresStore({ connectionString: cluster.url }, { schema: name, heartbeatMs: HEARTBEAT_MS, statementTimeoutMs: 200 })
      closing.push(() => store.close())
      return store
    }
    const store = bounded()
    await store.open()
    let resumedAt = Infinity
    let feedResumed!: () => void
    const resumed = new Promise<void>((resolve) => (feedResumed = resolve))
    await store.subscribe((event) => {
      // A heartbeat sent after the resume was answered (on the connection the feed had, or on a new one after a
      // reset: a stop shorter than the heartbeat's bound leaves it the one it had).
      if (event.type === "sync" && event.at >= resumedAt) feedResumed()
    })
    assert.ok((await store.createSession(createInput(sessionInput({ sid: "before" })))).ok)
    const now = Date.now()
    const query = { jti: "jti-1", sid: "s", subject: "alice", gen: 0, kid: "k", now }
    const calls = {
      isRevoked: () => store.isRevoked(query),
      revoke: () => store.revoke(revocation({ id: "during", createdAt: now, expiresAt: now + 3_600_000 })),
      rotate: () => store.rotate(rotateInput("before", "hash-0", "hash-1")),
      createSession: () => store.createSession(createInput(sessionInput())),
      getDocument: () => store.getDocument("users", "alice"),
      hit: () => store.hit("login:alice", 60_000, now),
      snapshot: () => store.snapshot(now),
      readSnapshot: () => (store.readSnapshot as NonNullable<Store["readSnapshot"]>)(now, () => undefined),
    }
    const unopened = bounded()
    const unsubscribed = bounded()

    cluster.pause()
    try {
      // More calls than the pool has connections (one): one is sent on it, the others wait for a connection.
      await allRejected(calls)
      // That connection given up, the pool starts new ones, whose startup the stopped server never answers: calls
      // wait on it, or for a connection, and so do a store migrating its schema and a feed's LISTEN.
      await allRejected({ ...calls, open: () => unopened.open(), subscribe: () => unsubscribed.subscribe(() => undefined) })
    } finally {
      cluster.resume()
      resumedAt = Date.now()
    }

    await resumed
    const after = revocation({ id: "after", createdAt: now, expiresAt: now + 3_600_000 })
    const heard = nextEvent(store, (event) => event.type === "revoked" && event.revocation.id === "after")
    await heard.ready
    assert.equal((await store.revoke(after)).id, "after")
    await heard
    assert.equal(await store.isRevoked({ ...query, jti: "after" }), true)
    assert.ok((await store.createSession(createInput(sessionInput({ sid: "resumed" })))).ok)
    assert.equal((await store.rotate(rotateInput("resumed", "hash-0", "hash-1"))).status, "rotated")
    await unopened.open()
    await (await unsubscribed.subscribe(() => undefined)).close()
  })

  test("after the server restarts, shut down fast or crashed, the first revocation succeeds: the pool's dead connections are not used for it", async () => {
    const store = makeStore(cluster.port, schema())
    await store.open()
    const now = Date.now()
    for (const mode of ["fast", "immediate"] as const) {
      // Connections in the pool, idle, to die with the server.
      await Promise.all(Array.from({ length: 4 }, () => store.isRevoked({ jti: "j", sid: "s", subject: "alice", gen: 0, kid: "k", now })))
      await cluster.stop(mode)
      await cluster.start()
      const id = `after-${mode}`
      assert.equal((await store.revoke(revocation({ id, createdAt: now, expiresAt: now + 3_600_000 }))).id, id)
    }
    assert.deepEqual((await store.snapshot(now)).map((row) => row.id).sort(), ["after-fast", "after-immediate"])
  })
})

/** Runs every call at once: each must reject (with the server stopped, only a bound can end it). */
async function allRejected(calls: Record<string, () => Promise<unknown>>): Promise<void> {
  const names = Object.keys(calls)
  const outcomes = await Promise.allSettled(Object.values(calls).map((call) => call()))
  assert.deepEqual(
    outcomes.map((outcome, index) => `${names[index]}: ${outcome.status}`),
    names.map((name) => `${name}: rejected`),
  )
}

/** The error code verify rejects with, or "ok". */
async function code(auth: Auth, pair: TokenPair): Promise<string> {
  try {
    await auth.verify(pair.accessToken)
    return "ok"
  } catch (error) {
    return (error as { code?: string }).code ?? String(error)
  }
}

/** Polls a condition every few milliseconds, for at most about fifteen seconds. */
async function eventually(what: string, condition: () => Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 750; attempt++) {
    if (await condition()) return
    await delay(20)
  }
  assert.fail(`Timed out waiting until ${what}.`)
}

interface App {
  ready: Promise<void>
  call(op: string, ...args: unknown[]): Promise<unknown>
  /** The error code an operation fails with, or "ok". */
  code(op: string, ...args: unknown[]): Promise<string>
  stop(): Promise<void>
}

function spawnApp(port: number, schema: string): App {
  const child = fork(new URL("../fixtures/pg-app.ts", import.meta.url), [], {
    env: { ...process.env, REVOCABLE_TEST_POSTGRES: `postgres://postgres@127.0.0.1:${port}/postgres`, REVOCABLE_TEST_SCHEMA: schema },
    execArgv: [],
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const pending = new Map<number, { resolve(reply: { value?: unknown; code?: string }): void; reject(error: Error): void }>()
  let next = 1
  const reply = (id: number) => new Promise<{ value?: unknown; code?: string }>((resolve, reject) => pending.set(id, { resolve, reject }))
  const ready = reply(0).then(() => undefined)
  child.on("message", (message: { id: number; value?: unknown; code?: string }) => {
    pending.get(message.id)?.resolve(message)
    pending.delete(message.id)
  })
  child.once("exit", (status) => {
    for (const { reject } of pending.values()) reject(new Error(`The application process exited with code ${status}.`))
    pending.clear()
  })
  async function request(op: string, args: unknown[]) {
    const id = next++
    const answer = reply(id)
    child.send({ id, op, args })
    return answer
  }
  return {
    ready,
    async call(op, ...args) {
      const answer = await request(op, args)
      if (answer.code !== undefined) throw new Error(`${op} failed in the application process: ${answer.code}`)
      return answer.value
    },
    async code(op, ...args) {
      return (await request(op, args)).code ?? "ok"
    },
    async stop() {
      if (child.exitCode === null && child.connected) await request("close", []).catch(() => undefined)
      await exited
    },
  }
}
