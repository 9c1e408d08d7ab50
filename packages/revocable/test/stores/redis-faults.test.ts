// The Redis store when Redis fails: outages, restarts, weak configurations, and two application processes.
// Each test starts its own redis-server on a free port; clocks are mocked (Date only) where staleness matters.
import assert from "node:assert/strict"
import { after, afterEach, describe, mock, test } from "node:test"
import { createClient } from "redis"
import { createAuth, type Auth, type AuthOptions, type TokenPair } from "../../src/index.ts"
import { redisStore, type RedisStore, type RedisStoreOptions, type RedisWarning } from "../../src/stores/redis/index.ts"
import { POSITION } from "../../src/stores/redis/feed.ts"
import type { ChangeEvent, Store } from "../../src/core/store.ts"
import { startInstance } from "../helpers/instance.ts"
import { startProxy, startRedis, uniquePrefix, type Proxy, type RedisServer } from "../helpers/redis.ts"
import { assertStillRevoked } from "../helpers/restart.ts"
import { createInput, revocation, rotateInput, sessionInput } from "../../src/testing/conformance.ts"

const DURABLE = ["--appendonly", "yes", "--appendfsync", "always"]
const servers: RedisServer[] = []
const proxies: Proxy[] = []
const auths: Auth[] = []
const stores: Store[] = []

after(async () => {
  for (const proxy of proxies) await proxy.close()
  for (const server of servers) await server.destroy()
})
afterEach(async () => {
  mock.timers.reset()
  for (const auth of auths.splice(0)) await auth.close()
  for (const store of stores.splice(0)) await store.close()
})

async function server(args: string[] = DURABLE): Promise<RedisServer> {
  const started = await startRedis(args)
  servers.push(started)
  return started
}

function store(url: string, prefix: string, options: RedisStoreOptions = {}): RedisStore {
  const made = redisStore({ url }, { prefix, heartbeatMs: 50, onWarning: () => {}, ...options })
  stores.push(made)
  return made
}

/** An auth instance; `reads` counts the verifies it had to answer from the store rather than its replica. */
function auth(url: string, prefix: string, overrides: Partial<AuthOptions> = {}, options: RedisStoreOptions = {}): Auth & { reads: number } {
  const inner = redisStore({ url }, { prefix, heartbeatMs: 50, onWarning: () => {}, ...options })
  const counted = { ...inner, name: inner.name, heartbeatMs: inner.heartbeatMs }
  const made = Object.assign(createAuth({ issuer: "https://issuer.test", audience: "api", store: counted, ...overrides }), { reads: 0 })
  counted.isRevoked = (query) => {
    made.reads++
    return inner.isRevoked(query)
  }
  auths.push(made)
  return made
}

/** A fresh store on `url` finds every revocation `t-0` … `t-(count-1)`: each write really reached Redis. */
async function assertWritten(url: string, prefix: string, count: number): Promise<void> {
  const reader = store(url, prefix)
  await reader.open()
  const live = new Set((await reader.snapshot(0)).map((row) => row.id))
  for (let round = 0; round < count; round++) assert.ok(live.has(`t-${round}`), `t-${round}`)
}

/** Polls `check` until it resolves true; fails after `limit` attempts. */
async function until(check: () => Promise<boolean>, what: string, limit = 500): Promise<void> {
  for (let attempt = 0; attempt < limit; attempt++) {
    if (await check().catch(() => false)) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  assert.fail(`Timed out waiting: ${what}.`)
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
    return "ok"
  } catch (error) {
    return (error as { code?: string }).code ?? String(error)
  }
}

const QUERY = { jti: "x", sid: "x", subject: "x", gen: 0, kid: "x" }

describe("redis store outage", () => {
  test("verify answers from the replica within maxStaleness, then fails closed (or open); writes reject; it recovers by itself", async () => {
    mock.timers.enable({ apis: ["Date"], now: Date.now() })
    const redis = await server()
    const proxy = await startProxy(redis.port)
    proxies.push(proxy)
    const prefix = uniquePrefix("outage")
    // Writes wait for Redis to come back for up to commandTimeoutMs before they fail: not long here.
    const a = auth(proxy.url, prefix, { maxStaleness: "2s" }, { commandTimeoutMs: 300 })
    const open = auth(proxy.url, prefix, { maxStaleness: "2s", onStoreUnavailable: "fail-open" }, { commandTimeoutMs: 300 })
    const b = auth(redis.url, prefix, { maxStaleness: "2s" }, { commandTimeoutMs: 300 })
    await a.ready()
    await open.ready()
    await b.ready()
    const good = await a.issue("alice")
    const other = await a.issue("alice")
    const revoked = await a.issue("bob")
    await a.revoke(revoked.accessToken)
    await until(async () => (await codeOf(open.verify(revoked.accessToken))) === "token_revoked", "the fail-open instance sees the revocation")
    const unavailable: boolean[] = []
    open.on("store-unavailable", ({ failOpen }) => unavailable.push(failOpen))

    await redis.kill("SIGKILL")
    await until(async () => (await codeOf(a.revoke(good.accessToken))) === "store_unavailable", "instance A notices the outage")
    await until(async () => (await codeOf(open.revoke(good.accessToken))) === "store_unavailable", "the fail-open instance notices the outage")

    // Within maxStaleness: the replica answers; writes reject, never a false success.
    mock.timers.tick(2000)
    const readsBefore = a.reads
    assert.equal(await codeOf(a.verify(good.accessToken)), "ok")
    assert.equal(await codeOf(a.verify(revoked.accessToken)), "token_revoked")
    assert.equal(a.reads, readsBefore, "answered by the replica")
    assert.equal(await codeOf(a.refresh(good.refreshToken)), "store_unavailable")
    assert.equal(await codeOf(a.revoke(good.accessToken)), "store_unavailable")
    assert.equal(await codeOf(a.logout(good.accessToken, { everywhere: true })), "store_unavailable")
    assert.equal(await codeOf(a.issue("carol")), "store_unavailable")

    // Past it (counted from the last sync, which an empty read dates up to one heartbeat, 50 ms, after it
    // was sent): fail closed, or, when configured, fail open with an event (still refusing what the replica knows).
    mock.timers.tick(51)
    assert.equal(await codeOf(a.verify(good.accessToken)), "store_unavailable")
    assert.equal(await codeOf(a.verify(revoked.accessToken)), "store_unavailable")
    unavailable.length = 0
    assert.equal(await codeOf(open.verify(good.accessToken)), "ok")
    assert.deepEqual(unavailable, [true])
    assert.equal(await codeOf(open.verify(revoked.accessToken)), "token_revoked")

    // Redis returns, but A is still cut off: B revokes A's tokens meanwhile, and A still fails closed.
    proxy.cut()
    await redis.start()
    await until(async () => (await b.revoke(good.accessToken)) !== null, "instance B can write again")
    await b.revokeSession(other.sessionId)
    assert.equal(await codeOf(a.verify(other.accessToken)), "store_unavailable")

    // A reconnects by itself and enforces what B did meanwhile, from its replica once again fresh.
    proxy.restore()
    const fresh = await b.issue("dave")
    const fromReplica = async (token: string, expected: string) => {
      const reads = a.reads
      return (await codeOf(a.verify(token))) === expected && a.reads === reads
    }
    await until(() => fromReplica(good.accessToken, "token_revoked"), "A's replica enforces B's revocation")
    assert.ok(await fromReplica(other.accessToken, "token_revoked"), "A's replica enforces B's session revocation")
    assert.ok(await fromReplica(fresh.accessToken, "ok"), "A accepts a valid token from its replica")
    await until(async () => (await codeOf(a.issue("erin"))) === "ok", "A can write again")
  })

  test("when Redis comes back without its data, subscribers get a reset, then every new change", async () => {
    const redis = await server([])
    const prefix = uniquePrefix("amnesia")
    const reader = store(redis.url, prefix)
    await reader.open()
    const events: string[] = []
    await reader.subscribe((event) => {
      if (event.type === "revoked") events.push(event.revocation.id)
      if (event.type === "reset") events.push("reset")
    })
    const now = Date.now()
    const input = { kind: "token" as const, subject: null, reason: null, actor: null, createdAt: now, expiresAt: now + 60_000 }
    await reader.revoke({ ...input, id: "t-1" })
    await until(async () => events.includes("t-1"), "the first change")
    await redis.kill()
    await redis.start()
    const writer = store(redis.url, prefix)
    await writer.open()
    await writer.revoke({ ...input, id: "t-2" })
    await until(async () => events.includes("t-2"), "the change made after the restart")
    assert.deepEqual(events.slice(0, 1), ["t-1"])
    assert.ok(events.indexOf("reset") > 0 && events.indexOf("reset") < events.indexOf("t-2"), events.join(", "))
  })

  test("a store opened while Redis is down rejects at once, and opens once Redis is up", async () => {
    const redis = await server()
    await redis.kill()
    const down = store(redis.url, uniquePrefix("down"))
    await assert.rejects(down.open())
    await redis.start()
    await down.open()
    assert.equal(await down.isRevoked({ ...QUERY, now: Date.now() }), false)
  })
})

describe("redis store when Redis stalls, drops connections or restarts", () => {
  test("while Redis is stopped (SIGSTOP), every call rejects within commandTimeoutMs; once it resumes, the feed resets and syncs again", { timeout: 60_000 }, async () => {
    const redis = await server()
    const proxy = await startProxy(redis.port)
    proxies.push(proxy)
    const stalled = store(proxy.url, uniquePrefix("stall"), { commandTimeoutMs: 200 })
    await stalled.open()
    await stalled.createSession(createInput(sessionInput({ sid: "s-1" })))
    await stalled.revoke(revocation({ id: "t-before" }))
    const events: ChangeEvent[] = []
    await stalled.subscribe((event) => events.push(event))
    // The feed asks for the stream's end again only after a read failed: then it has noticed the stall.
    const feedNoticed = proxy.sent(POSITION.sha)
    const now = Date.now()
    let resumedAt = 0
    await redis.pause()
    const fromPause = events.length
    try {
      const pausedAt = Date.now()
      const calls = {
        isRevoked: stalled.isRevoked({ ...QUERY, now }),
        revoke: stalled.revoke(revocation({ id: "t-stalled" })),
        // With it in the same turn: two scripts of a batch, each bounded, each revocation rejecting with its own.
        burst: Promise.allSettled(Array.from({ length: 120 }, (_, i) => stalled.revoke(revocation({ id: `t-burst-${i}` })))).then((results) => {
          if (results.every((result) => result.status === "rejected")) throw (results[0] as PromiseRejectedResult).reason
        }),
        rotate: stalled.rotate(rotateInput("s-1", "hash-0", "hash-1")),
        createSession: stalled.createSession(createInput(sessionInput())),
        getDocument: stalled.getDocument("users", "alice"),
        hit: stalled.hit("login:alice", 60_000, now),
        snapshot: stalled.snapshot(now),
        open: store(proxy.url, uniquePrefix("stall-open"), { commandTimeoutMs: 200 }).open(),
      }
      const settled = await Promise.allSettled(Object.values(calls))
      for (const [i, name] of Object.keys(calls).entries()) {
        const result = settled[i]
        assert.equal(result?.status, "rejected", `${name} settled while Redis was stopped, and rejected`)
        assert.match(String((result as PromiseRejectedResult).reason), /did not answer within 200 ms/, name)
      }
      await feedNoticed
      for (const event of events) {
        if (event.type === "sync") assert.ok(event.at <= pausedAt, `a sync at ${event.at} claims a moment of the stall (from ${pausedAt})`)
      }
      resumedAt = Date.now()
    } finally {
      await redis.resume()
    }
    const sinceReset = () => {
      const reset = events.findIndex((event, i) => i >= fromPause && event.type === "reset")
      return reset < 0 ? [] : events.slice(reset)
    }
    await until(async () => sinceReset().some((event) => event.type === "sync" && event.at >= resumedAt), "a reset, then a sync from after the stall")
    assert.equal((await stalled.revoke(revocation({ id: "t-after" }))).id, "t-after")
    // Sent before t-after on the same connection, the revocation that timed out ran once Redis resumed, once:
    // a timeout is never retried.
    const revoked = () => events.flatMap((event) => (event.type === "revoked" ? [event.revocation.id] : []))
    await until(async () => revoked().includes("t-after"), "the revocation made after the stall")
    assert.deepEqual(revoked().filter((id) => id === "t-stalled"), ["t-stalled"])
    assert.equal(revoked().filter((id) => id.startsWith("t-burst-")).length, 120, "the batch's, each once")
  })

  test("on a client the application made, calls are bounded as well, and a revocation after a reset waits for its reconnect", { timeout: 60_000 }, async () => {
    const redis = await server()
    // The application's client, with the application's reconnect strategy.
    const client = createClient({ url: redis.url, socket: { reconnectStrategy: 20 } })
    client.on("error", () => {})
    await client.connect()
    try {
      const mine = redisStore({ client }, { prefix: uniquePrefix("app-client"), heartbeatMs: 50, commandTimeoutMs: 500, onWarning: () => {} })
      stores.push(mine)
      await mine.open()
      await mine.subscribe(() => {})
      await redis.pause()
      try {
        const settled = await Promise.allSettled([mine.isRevoked({ ...QUERY, now: Date.now() }), mine.revoke(revocation({ id: "t-stalled" }))])
        for (const result of settled) assert.match(String(result.status === "rejected" && result.reason), /did not answer within 500 ms/)
      } finally {
        await redis.resume()
      }
      await redis.cli("CLIENT", "KILL", "TYPE", "normal")
      assert.equal((await mine.revoke(revocation({ id: "t-after" }))).id, "t-after")
      assert.equal(client.isReady, true)
    } finally {
      await client.close()
    }
  })

  test("after every connection is reset (CLIENT KILL), the next revocation is written: it waits for the reconnect or is sent again", async () => {
    const redis = await server()
    const prefix = uniquePrefix("kill")
    const writer = store(redis.url, prefix)
    await writer.open()
    await writer.subscribe(() => {})
    for (let round = 0; round < 20; round++) {
      assert.ok(Number(await redis.cli("CLIENT", "KILL", "TYPE", "normal")) >= 1, "the store's connection was killed")
      assert.equal((await writer.revoke(revocation({ id: `t-${round}` }))).id, `t-${round}`)
    }
    await assertWritten(redis.url, prefix, 20)
  })

  test("a revocation whose connection is cut under it, or just before it, is sent again and written", async () => {
    const redis = await server()
    const proxy = await startProxy(redis.port)
    proxies.push(proxy)
    const prefix = uniquePrefix("cut")
    const writer = store(proxy.url, prefix)
    await writer.open()
    for (let round = 0; round < 20; round++) {
      const input = revocation({ id: `t-${round}` })
      let written: Promise<unknown>
      if (round % 2) {
        // Queued on the connection before it is cut: written to a dead socket, failed, then sent again.
        written = writer.revoke(input)
        proxy.cut()
      } else {
        proxy.cut()
        written = writer.revoke(input)
      }
      proxy.restore()
      await written
    }
    await assertWritten(redis.url, prefix, 20)
  })

  test("a batch of revocations made in one turn, its connection cut before or after it is sent, is sent again whole: each is answered and written", async () => {
    const redis = await server()
    const proxy = await startProxy(redis.port)
    proxies.push(proxy)
    const prefix = uniquePrefix("cut-batch")
    const writer = store(proxy.url, prefix)
    await writer.open()
    for (let round = 0; round < 6; round++) {
      const calls = Array.from({ length: 150 }, (_, i) => writer.revoke(revocation({ id: `t-${round}-${i}` })))
      // The batch goes at the end of the turn: cut before it, or once it is written to the socket.
      if (round % 2) await new Promise((resolve) => setImmediate(resolve))
      proxy.cut()
      proxy.restore()
      assert.deepEqual((await Promise.all(calls)).map((row) => row.id), calls.map((_, i) => `t-${round}-${i}`))
    }
    const reader = store(redis.url, prefix)
    await reader.open()
    assert.equal(new Set((await reader.snapshot(0)).map((row) => row.id)).size, 6 * 150)
  })

  test("after Redis restarts (SIGKILL, AOF), a revocation made as soon as it answers PING is written at the first call", async () => {
    const redis = await server()
    const proxy = await startProxy(redis.port)
    proxies.push(proxy)
    const prefix = uniquePrefix("restart-write")
    const writer = store(proxy.url, prefix)
    await writer.open()
    for (let round = 0; round < 3; round++) {
      await redis.kill("SIGKILL")
      // Down long enough for the store to have tried to reconnect several times, as in a real restart.
      const accepted = proxy.accepted
      await until(async () => proxy.accepted >= accepted + 6, "the store tries to reconnect")
      await redis.start()
      assert.equal(await redis.cli("PING"), "PONG")
      assert.equal((await writer.revoke(revocation({ id: `t-${round}` }))).id, `t-${round}`)
    }
    await redis.kill("SIGKILL")
    await redis.start()
    const reader = store(redis.url, prefix)
    await reader.open()
    assert.deepEqual((await reader.snapshot(0)).map((row) => row.id).sort(), ["t-0", "t-1", "t-2"])
  })
})

describe("redis store durability", () => {
  for (const stop of ["SIGKILL", "SHUTDOWN NOSAVE"] as const) {
    test(`no acknowledged revocation is lost across a Redis restart (appendfsync always, ${stop})`, async () => {
      const redis = await server()
      const prefix = uniquePrefix("durable")
      const writer = store(redis.url, prefix)
      await writer.open()
      const now = Date.now()
      const later = now + 3_600_000
      const base = { subject: "alice", reason: "test", actor: "tester", createdAt: now, expiresAt: later }
      const session = { sid: "s-1", subject: "alice", ttlMs: 3_600_000, device: null, claims: {}, refreshHash: "hash-0" }
      const template = { kind: "session" as const, reason: null, actor: null, createdAt: now }
      await writer.createSession({ session, idleTimeoutMs: 3_600_000, limit: null, onExceed: "reject", evictTemplate: template, leewayMs: 0 })
      const acknowledged = await Promise.all([
        ...Array.from({ length: 200 }, (_, i) => writer.revoke({ ...base, kind: "token", id: `t-${i}` })),
        writer.revoke({ ...base, kind: "subject", id: "bob" }),
        writer.revoke({ ...base, kind: "key", id: "k-1", subject: null }),
        writer.rotate({
          sid: "s-1",
          presentedHash: "hash-0",
          nextHash: "hash-1",
          graceMs: 0,
          idleTimeoutMs: 3_600_000,
          reuseRevocation: { ...base, kind: "session", id: "s-1" },
        }),
      ])
      if (stop === "SIGKILL") await redis.kill("SIGKILL")
      else {
        await redis.cli("SHUTDOWN", "NOSAVE").catch(() => "")
        await redis.kill()
      }
      await redis.start()

      const reader = store(redis.url, prefix)
      await reader.open()
      const live = new Set((await reader.snapshot(now)).map((row) => `${row.kind}:${row.id}`))
      assert.equal(acknowledged.length, 203)
      for (let i = 0; i < 200; i++) assert.ok(live.has(`token:t-${i}`), `token:t-${i}`)
      assert.ok(live.has("subject:bob") && live.has("key:k-1"))
      assert.equal(await reader.isRevoked({ ...QUERY, subject: "bob", gen: 0, now }), true)
      assert.equal((await reader.rotate({
        sid: "s-1",
        presentedHash: "hash-1",
        nextHash: "hash-2",
        graceMs: 0,
        idleTimeoutMs: 3_600_000,
        reuseRevocation: { ...base, kind: "session", id: "s-1" },
      })).status, "rotated", "the acknowledged rotation survived")
      await until(async () => (await writer.snapshot(now)).length === 202, "the first store reconnects by itself")
    })
  }
})

describe("redis store durability, seen by the application", () => {
  test("what a process revoked stays refused after it exits and Redis restarts (AOF): a new instance refuses it until exp + leeway", async () => {
    const redis = await server()
    const prefix = uniquePrefix("restart")
    const writer = await startInstance(["redis", redis.url, prefix])
    const token = await writer.call<TokenPair>("issue", "alice")
    const session = await writer.call<TokenPair>("issue", "bob")
    const subject = [await writer.call<TokenPair>("issue", "carol"), await writer.call<TokenPair>("issue", "carol")]
    const kept = await writer.call<TokenPair>("issue", "dave")
    assert.equal(await writer.call("revoke", token.accessToken), true)
    assert.equal(await writer.call("logout", session.accessToken, false), "session")
    assert.equal(await writer.call("revokeSubject", "carol"), "subject")
    await writer.stop()
    await redis.kill("SIGKILL")
    await redis.start()

    const reader = auth(redis.url, prefix)
    await reader.ready()
    try {
      await assertStillRevoked(reader, { token, session, subject, kept })
    } finally {
      mock.timers.reset()
    }
  })
})

describe("redis store configuration warnings", () => {
  test("open() warns when persistence is off or the eviction policy can drop revocations", async () => {
    const redis = await server(["--save", "", "--appendonly", "no", "--maxmemory-policy", "volatile-lru"])
    const seen: RedisWarning[] = []
    const weak = store(redis.url, uniquePrefix("weak"), { onWarning: (warning) => seen.push(warning) })
    await weak.open()
    const codes = ["REVOCABLE_REDIS_PERSISTENCE", "REVOCABLE_REDIS_EVICTION"]
    assert.deepEqual(seen.map((warning) => warning.code), codes)
    assert.deepEqual(weak.warnings.map((warning) => warning.code), codes)
    assert.match(seen[1]?.message ?? "", /volatile-lru/)

    await redis.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
    await redis.cli("CONFIG", "SET", "save", "900 1")
    const rdb: RedisWarning[] = []
    await store(redis.url, uniquePrefix("rdb"), { onWarning: (warning) => rdb.push(warning) }).open()
    assert.deepEqual(rdb, [], "RDB snapshots count as persistence")

    await redis.cli("CONFIG", "SET", "save", "")
    await redis.cli("CONFIG", "SET", "appendonly", "yes")
    const durable: RedisWarning[] = []
    await store(redis.url, uniquePrefix("aof"), { onWarning: (warning) => durable.push(warning) }).open()
    assert.deepEqual(durable, [])
  })

  test("without onWarning, the warning goes to process.emitWarning with its code", async () => {
    const redis = await server(["--save", "", "--appendonly", "no"])
    const warnings: Array<Error & { code?: string }> = []
    const listener = (warning: Error & { code?: string }) => warnings.push(warning)
    process.on("warning", listener)
    try {
      const made = redisStore({ url: redis.url }, { prefix: uniquePrefix("emit") })
      stores.push(made)
      await made.open()
      await until(async () => warnings.some((warning) => warning.code === "REVOCABLE_REDIS_PERSISTENCE"), "the process warning")
    } finally {
      process.off("warning", listener)
    }
  })

  test("when CONFIG is disabled (managed Redis), open() says nothing and works", async () => {
    const redis = await server(["--save", "", "--appendonly", "no", "--rename-command", "CONFIG", ""])
    const seen: RedisWarning[] = []
    const managed = store(redis.url, uniquePrefix("managed"), { onWarning: (warning) => seen.push(warning) })
    await managed.open()
    assert.deepEqual(seen, [])
    assert.equal(await managed.isRevoked({ ...QUERY, now: Date.now() }), false)
  })
})

describe("two application processes over one Redis", () => {
  test("a revoke, a logout everywhere and a retired key in one process are enforced in the other", async () => {
    const redis = await server()
    const prefix = uniquePrefix("apps")
    const a = auth(redis.url, prefix, { maxStaleness: "1s" })
    await a.ready()
    const b = await startInstance(["redis", redis.url, prefix])
    try {
      const alices = await b.call<TokenPair>("issue", "alice")
      assert.equal((await a.verify(alices.accessToken)).sub, "alice")
      const mine = await a.issue("alice")
      assert.equal(await b.call("verify", mine.accessToken), "alice")
      await a.revoke(mine.accessToken)
      assert.ok((await b.call<number>("waitRevoked", mine.accessToken)) >= 1)
      assert.equal(await b.call("verify", alices.accessToken), "alice", "only that token is revoked")

      const carols = [await b.call<TokenPair>("issue", "carol"), await b.call<TokenPair>("issue", "carol")]
      const carolInA = await a.issue("carol")
      await a.logout(carolInA.accessToken, { everywhere: true })
      for (const pair of carols) assert.ok((await b.call<number>("waitRevoked", pair.accessToken)) >= 1)
      const again = await b.call<TokenPair>("issue", "carol")
      assert.equal((await a.verify(again.accessToken)).sub, "carol", "a login after logout-everywhere is valid")
      assert.equal(await b.call("verify", again.accessToken), "carol")

      const signedBefore = await b.call<TokenPair>("issue", "dave")
      const [header] = signedBefore.accessToken.split(".")
      const { kid } = JSON.parse(Buffer.from(header as string, "base64url").toString()) as { kid: string }
      await a.rotateKey()
      await a.retireKey(kid)
      assert.ok((await b.call<number>("waitRevoked", signedBefore.accessToken)) >= 1)
      // B reloads its keys when the change reaches it: it then signs with the key A made current.
      await until(async () => (await codeOf(a.verify((await b.call<TokenPair>("issue", "dave")).accessToken))) === "ok", "B signs with the new key")
    } finally {
      await b.stop()
    }
  })
})
