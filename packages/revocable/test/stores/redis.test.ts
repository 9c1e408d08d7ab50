import assert from "node:assert/strict"
import { after, afterEach, describe, mock, test } from "node:test"
import { createClient } from "redis"
import { redisStore, type RedisStoreOptions, type RedisTarget } from "../../src/stores/redis/index.ts"
import type { TokenPair } from "../../src/index.ts"
import type { ChangeEvent, Store } from "../../src/core/store.ts"
import { startInstance } from "../helpers/instance.ts"
import { deleteKeys, REDIS_URL, uniquePrefix } from "../helpers/redis.ts"
import { createInput, nextEvent, revocation, rotateInput, sessionInput, storeConformance } from "../../src/testing/conformance.ts"

const prefixes = new Set<string>()
const opened: Store[] = []
const stores = new WeakMap<Store, string>()
after(async () => {
  for (const store of opened) await store.close()
  await deleteKeys(REDIS_URL, prefixes)
})

async function open(prefix: string, target: RedisTarget = { url: REDIS_URL }, options: RedisStoreOptions = {}) {
  prefixes.add(prefix)
  const store = redisStore(target, { prefix, onWarning: () => {}, ...options })
  opened.push(store)
  stores.set(store, prefix)
  await store.open()
  return store
}

storeConformance("redis", {
  create: ({ clock }) => open(uniquePrefix("conformance"), { url: REDIS_URL }, { clock }),
  async peer(store, { clock }) {
    const prefix = stores.get(store)
    assert.ok(prefix, "peer() is given a store made by create()")
    return open(prefix, { url: REDIS_URL }, { clock })
  },
})

const T0 = 1_800_000_000_000
const HOUR = 3_600_000

/** Polls `check` until it resolves true. */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 5))
}

describe("redis store specifics", () => {
  test("redisStore() validates its target and options at construction", () => {
    assert.throws(() => redisStore({} as never), TypeError)
    assert.throws(() => redisStore({ url: "http://127.0.0.1:6379" }), TypeError)
    assert.throws(() => redisStore({ url: REDIS_URL, client: {} } as never), TypeError)
    assert.throws(() => redisStore({ client: {} as never }), TypeError)
    assert.throws(() => redisStore({ url: REDIS_URL }, { prefix: "" }), TypeError)
    assert.throws(() => redisStore({ url: REDIS_URL }, { prefix: "a}b" }), TypeError)
    assert.throws(() => redisStore({ url: REDIS_URL }, { heartbeatMs: 0 }), TypeError)
    assert.throws(() => redisStore({ url: REDIS_URL }, { feedLength: 1.5 }), TypeError)
    assert.throws(() => redisStore({ url: REDIS_URL }, { commandTimeoutMs: 0 }), TypeError)
    assert.throws(() => redisStore({ url: REDIS_URL }, { commandTimeoutMs: 2.5 }), TypeError)
    assert.throws(() => redisStore({ url: REDIS_URL }, { clock: 5 as never }), TypeError)
    assert.throws(() => redisStore({ url: REDIS_URL }, { onWarning: "log" as never }), TypeError)
  })

  test("every key carries the hash tag of the prefix, and revocations and sessions expire by TTL", async () => {
    const prefix = uniquePrefix("keys")
    const store = await open(prefix, { url: REDIS_URL }, { clock: () => T0 })
    await store.revoke(revocation({ kind: "subject", id: "alice" }))
    await store.createSession(createInput(sessionInput({ sid: "s-1" })))
    await store.putDocument("users", "alice", "{}")
    await store.hit("login:alice", 60_000, T0)
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    try {
      const keys: string[] = []
      for await (const page of client.scanIterator({ MATCH: `{${prefix}}*`, COUNT: 1000 })) keys.push(...page)
      assert.ok(keys.length >= 8)
      for (const key of keys) assert.ok(key.startsWith(`{${prefix}}:`), key)
      assert.equal(await client.pExpireTime(`{${prefix}}:r:subject:alice`), T0 + HOUR)
      assert.equal(await client.pExpireTime(`{${prefix}}:s:s-1`), T0 + 24 * HOUR + 1000, "kept for the leeway after its expiry")
      assert.equal(await client.pExpireTime(`{${prefix}}:g:alice`), T0 + 24 * HOUR + 1000, "the generation outlives the sessions that depend on it")
      assert.equal(await client.pExpireTime(`{${prefix}}:h:login:alice`), T0 + 60_000)
    } finally {
      await client.close()
    }
  })

  test("a revocation whose expiry has passed by the server's clock is acknowledged but not kept", async () => {
    const store = await open(uniquePrefix("past"))
    const past = Date.now() - HOUR
    const stored = await store.revoke(revocation({ createdAt: past - HOUR, expiresAt: past }))
    assert.equal(stored.expiresAt, past)
    assert.deepEqual(await store.snapshot(past - HOUR), [])
  })

  test("the snapshot reads what replicas hold by pages, each page taking every entry of its last replicaUntil, and hands them over so", async () => {
    const store = await open(uniquePrefix("snapshot-pages"))
    const writes: Promise<unknown>[] = []
    // 1200 entries share one replicaUntil across the 1000-entry page; 300 more come after; 50 are for the store only.
    for (let i = 0; i < 1550; i++) {
      const replicaUntil = i < 1200 ? T0 + 10 : i < 1500 ? T0 + 20 + i : T0 - 1
      writes.push(store.revoke(revocation({ id: `jti-${i}`, replicaUntil })))
    }
    await Promise.all(writes)
    const ids = (await store.snapshot(T0)).map((row) => row.id)
    assert.equal(ids.length, 1500)
    assert.equal(new Set(ids).size, 1500, "no entry twice")
    assert.equal((await store.snapshot(T0 + 10)).length, 300)
    // readSnapshot hands the same over page by page, as read: a replica loads one while Redis reads the next.
    const pages: string[][] = []
    await (store.readSnapshot as NonNullable<Store["readSnapshot"]>)(T0, (page) => void pages.push(page.map((row) => row.id)))
    assert.deepEqual(pages.map((page) => page.length), [1200, 300])
    assert.deepEqual(pages.flat(), ids)
    await assert.rejects(
      (store.readSnapshot as NonNullable<Store["readSnapshot"]>)(T0, () => {
        throw new Error("the loader failed")
      }),
      /the loader failed/,
    )
    assert.equal(await store.isRevoked({ jti: "jti-1549", sid: "x", subject: "x", gen: 0, kid: "x", now: T0 }), true)
  })

  test("a store written before replicaUntil: open() indexes its revocations by their expiry, once", async () => {
    const prefix = uniquePrefix("layout-1")
    const first = await open(prefix)
    await first.revoke(revocation({ id: "old", replicaUntil: T0 + 10 }))
    await first.revoke(revocation({ id: "new", replicaUntil: T0 + 10 }))
    await first.close()
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    try {
      // As the previous layout left it: no version, no replicaUntil index, no replicaUntil on "old".
      await client.del([`{${prefix}}:schema`, `{${prefix}}:rp`])
      await client.hDel(`{${prefix}}:r:token:old`, "replicaUntil")
      const second = await open(prefix)
      assert.deepEqual(
        (await second.snapshot(T0 + 10)).map((row) => [row.id, row.replicaUntil]),
        [["old", T0 + HOUR]],
        "an old revocation stays in replicas until its expiry; a newer one keeps its own replicaUntil",
      )
      assert.equal(await client.get(`{${prefix}}:schema`), "2")
    } finally {
      await client.close()
    }
  })

  test("a key saved before activation times were kept signs since its creation", async () => {
    const prefix = uniquePrefix("old-key")
    const store = await open(prefix)
    const key = { kid: "k-old", alg: "EdDSA", privateJwk: "{}", createdAt: T0, activatesAt: T0 + HOUR, retiredAt: null }
    await store.saveKey(key)
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    try {
      await client.hDel(`{${prefix}}:k:k-old`, "activatesAt")
      assert.deepEqual(await store.listKeys(), [{ ...key, activatesAt: T0 }])
    } finally {
      await client.close()
    }
  })

  test("works with a client the application made, RESP2 or RESP3, and never closes it", async () => {
    for (const RESP of [2, 3] as const) {
      const client = createClient({ url: REDIS_URL, RESP })
      client.on("error", () => {})
      await client.connect()
      try {
        const prefix = uniquePrefix(`client-resp${RESP}`)
        const store = await open(prefix, { client })
        const peer = await open(prefix, { client })
        const seen = nextEvent(peer, (event) => event.type === "revoked" && event.revocation.id === "jti-1")
        await seen.ready
        await store.revoke(revocation())
        assert.deepEqual(await seen, { type: "revoked", revocation: { ...revocation(), cutoff: 0, replicaUntil: revocation().expiresAt } })
        await store.close()
        await peer.close()
        assert.equal(client.isReady, true)
        assert.equal(await client.ping(), "PONG")
      } finally {
        await client.close()
      }
    }
  })

  test("revocations made in one turn go to Redis as a few scripts, each answered and published as if made alone, in order", async () => {
    const client = createClient({ url: REDIS_URL })
    client.on("error", () => {})
    await client.connect()
    try {
      const prefix = uniquePrefix("batch")
      const store = await open(prefix, { client })
      const events: string[] = []
      const subscription = await store.subscribe((event) => {
        if (event.type === "revoked") events.push(`${event.revocation.kind}:${event.revocation.id}:${event.revocation.cutoff}`)
      })
      const scripts = mock.method(client, "sendCommand")
      const isScript = (call: { arguments: unknown[] }) => ["EVALSHA", "EVAL"].includes(String((call.arguments[0] as string[])[0]))
      const tokens = Array.from({ length: 247 }, (_, i) => store.revoke(revocation({ id: `t-${i}` })))
      const again = store.revoke(revocation({ id: "t-0", reason: "second", expiresAt: T0 + 2 * HOUR }))
      const first = store.revoke(revocation({ kind: "subject", id: "alice" }))
      // A value the script cannot compare fails that revocation alone.
      const broken = store.revoke(revocation({ id: "broken", expiresAt: "soon" as unknown as number, replicaUntil: T0 }))
      const second = store.revoke(revocation({ kind: "subject", id: "alice", reason: "again" }))
      await assert.rejects(broken, /Redis refused the revocation/)
      const recorded = await Promise.all(tokens)
      assert.deepEqual(recorded.map((row) => row.id), tokens.map((_, i) => `t-${i}`))
      assert.equal(scripts.mock.calls.filter(isScript).length, 3, "251 revocations in 3 scripts of at most 100")
      // Merged with the first as a second call is; a subject's cut-off rises once per call, each caller told its own.
      assert.deepEqual(await again, { ...revocation({ id: "t-0" }), expiresAt: T0 + 2 * HOUR, cutoff: 0, replicaUntil: T0 + 2 * HOUR })
      assert.deepEqual([(await first).cutoff, (await second).cutoff, (await second).reason], [1, 2, "again"])
      scripts.mock.restore()

      const expected = [...tokens.map((_, i) => `token:t-${i}:0`), "token:t-0:0", "subject:alice:1", "subject:alice:2"]
      await until(async () => events.length >= expected.length)
      assert.deepEqual(events, expected)
      await subscription.close()
      const held = (await store.snapshot(T0)).map((row) => `${row.kind}:${row.id}`)
      assert.equal(held.length, 248)
      assert.ok(!held.includes("token:broken"))
    } finally {
      await client.close()
    }
  })

  test("a revocation made in the turn the store is closed is sent and answered", async () => {
    const prefix = uniquePrefix("close-batch")
    const store = redisStore({ url: REDIS_URL }, { prefix, onWarning: () => {} })
    prefixes.add(prefix)
    await store.open()
    const revoked = store.revoke(revocation())
    await store.close()
    assert.equal((await revoked).id, "jti-1")
    const peer = await open(prefix)
    assert.equal(await peer.isRevoked({ jti: "jti-1", sid: "x", subject: "x", gen: 0, kid: "x", now: T0 }), true)
  })

  test("scripts are loaded again when Redis forgets them (SCRIPT FLUSH)", async () => {
    const store = await open(uniquePrefix("flush"))
    await store.revoke(revocation())
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    await client.scriptFlush()
    await client.close()
    assert.equal(await store.isRevoked({ jti: "jti-1", sid: "x", subject: "x", gen: 0, kid: "x", now: T0 }), true)
  })

  test("the feed sends a sync at least every heartbeat while healthy", async () => {
    const store = await open(uniquePrefix("heartbeat"), { url: REDIS_URL }, { heartbeatMs: 50 })
    let syncs = 0
    let resolve!: () => void
    const three = new Promise<void>((r) => (resolve = r))
    const subscription = await store.subscribe((event) => {
      if (event.type === "sync" && ++syncs === 3) resolve()
    })
    await three
    await subscription.close()
  })

  test("a sync is dated when its read was sent: a process paused after Redis answered does not count itself up to date", async () => {
    const store = await open(uniquePrefix("paused"), { url: REDIS_URL }, { heartbeatMs: 50 })
    const syncs: number[] = []
    const subscription = await store.subscribe((event) => {
      if (event.type === "sync") syncs.push(event.at)
    })
    const seen = syncs.length
    const pausedAt = Date.now()
    // The whole process stops for 300 ms (as in a GC pause or SIGSTOP) while Redis answers the read in flight.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300)
    await until(async () => syncs.length > seen)
    assert.ok((syncs[seen] ?? Infinity) <= pausedAt + 50, `the first sync after the pause is dated ${(syncs[seen] ?? 0) - pausedAt} ms after it began`)
    await subscription.close()
  })

  test("a process busy past commandTimeoutMs takes the answer Redis sent meanwhile: the feed's read does not time out, nor reset", async () => {
    const store = await open(uniquePrefix("busy"), { url: REDIS_URL }, { heartbeatMs: 50, commandTimeoutMs: 100 })
    const events: string[] = []
    let synced!: () => void
    let sync = new Promise<void>((resolve) => (synced = resolve))
    const subscription = await store.subscribe((event) => {
      events.push(event.type)
      if (event.type === "sync") synced()
    })
    await sync
    // The next read is written to Redis (node-redis writes on the next turn of the event loop).
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    const seen = events.length
    // The whole process is busy for 400 ms (serializing a large answer, say), past the read's 150 ms deadline,
    // while Redis answers it after its 50 ms block.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400)
    sync = new Promise<void>((resolve) => (synced = resolve))
    await sync
    assert.deepEqual(events.slice(seen).filter((type) => type !== "sync"), [], "no reset: the connection was not taken for broken")
    await subscription.close()
  })

  test("the change stream is trimmed to about feedLength entries", async () => {
    const prefix = uniquePrefix("trim")
    const store = await open(prefix, { url: REDIS_URL }, { feedLength: 10 })
    for (let i = 0; i < 300; i++) await store.revoke(revocation({ id: `t-${i}` }))
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    try {
      const length = await client.xLen(`{${prefix}}:feed`)
      assert.ok(length >= 10 && length < 300, `length ${length}`)
    } finally {
      await client.close()
    }
  })

  test("a gap in the feed's sequence (a trimmed or lost entry) makes a reset before the next change", async () => {
    const prefix = uniquePrefix("gap")
    const store = await open(prefix)
    const events: ChangeEvent[] = []
    const subscription = await store.subscribe((event) => {
      if (event.type !== "sync") events.push(event)
    })
    const first = nextEvent(store, (event) => event.type === "revoked" && event.revocation.id === "t-1")
    const second = nextEvent(store, (event) => event.type === "revoked" && event.revocation.id === "t-2")
    await Promise.all([first.ready, second.ready])
    await store.revoke(revocation({ id: "t-1" }))
    await first
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    await client.incr(`{${prefix}}:n`)
    await client.close()
    await store.revoke(revocation({ id: "t-2" }))
    await second
    await subscription.close()
    assert.deepEqual(
      events.map((event) => (event.type === "revoked" ? event.revocation.id : event.type)),
      ["t-1", "reset", "t-2"],
    )
  })
})

describe("redis store on the server's clock", () => {
  afterEach(() => mock.timers.reset())

  test("two instances: of ten concurrent rotations of one refresh hash exactly one wins, fifty rounds; without a grace, a replay right after is a reuse", async () => {
    const prefix = uniquePrefix("server-race")
    const a = await open(prefix)
    const b = await open(prefix)
    for (let round = 0; round < 50; round++) {
      const sid = `race-${round}`
      await (round % 2 ? a : b).createSession(createInput(sessionInput({ sid })))
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).rotate(rotateInput(sid, "hash-0", `next-${i}`))))
      const count = (status: string) => results.filter((result) => result.status === status).length
      // The first replay revokes the session, so the ones after it find it revoked.
      assert.deepEqual({ rotated: count("rotated"), reused: count("reused"), revoked: count("revoked") }, { rotated: 1, reused: 1, revoked: 8 }, `round ${round}`)

      const replayed = `replay-${round}`
      await a.createSession(createInput(sessionInput({ sid: replayed })))
      assert.equal((await a.rotate(rotateInput(replayed, "hash-0", "hash-1"))).status, "rotated")
      assert.equal((await b.rotate(rotateInput(replayed, "hash-0", "hash-2"))).status, "reused", `round ${round}`)
    }
  })

  test("session times, idle time, absolute expiry and the rotation grace follow the Redis server's clock, whatever the process's says", async () => {
    const store = await open(uniquePrefix("server-clock"))
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    const serverNow = async () => {
      const [seconds, micros] = (await client.sendCommand(["TIME"])) as [string, string]
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
    }
    try {
      mock.timers.enable({ apis: ["Date"], now: 0 })
      const before = await serverNow()
      const created = await store.createSession(createInput(sessionInput({ sid: "s-1", ttlMs: HOUR })))
      const after = await serverNow()
      assert.ok(created.ok)
      const { createdAt, lastUsedAt, expiresAt } = created.session
      assert.ok(before <= createdAt && createdAt <= after, `created at ${createdAt}, the server's clock read ${before} then ${after}`)
      assert.deepEqual([lastUsedAt, expiresAt], [createdAt, createdAt + HOUR])

      assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-1", 60_000))).status, "rotated")
      mock.timers.tick(24 * HOUR)
      assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-2", 60_000))).status, "grace", "a day later by the process's clock only")
      assert.deepEqual((await store.listSessions("alice", 60_000)).map((session) => session.sid), ["s-1"], "used a moment ago by the server's clock")

      await store.createSession(createInput(sessionInput({ sid: "s-2" })))
      const rotated = await store.rotate(rotateInput("s-2", "hash-0", "hash-1", 50))
      assert.equal(rotated.status, "rotated")
      const rotatedAt = rotated.status === "rotated" ? rotated.session.lastUsedAt : 0
      await until(async () => (await serverNow()) >= rotatedAt + 50)
      assert.equal((await store.rotate(rotateInput("s-2", "hash-0", "hash-2", 50))).status, "reused", "the grace is over by the server's clock, though the process's stands still")

      // Past its absolute expiry, by the server's clock, a session is kept for the leeway: expired, not missing.
      const short = await store.createSession({ ...createInput(sessionInput({ sid: "s-3", ttlMs: 20 })), leewayMs: 60_000 })
      assert.ok(short.ok)
      await until(async () => (await serverNow()) >= short.session.expiresAt)
      assert.equal((await store.rotate(rotateInput("s-3", "hash-0", "hash-1"))).status, "expired")
    } finally {
      await client.close()
    }
  })
})

describe("redis store across processes", () => {
  test("ten concurrent refreshes of one refresh token in each of two processes: exactly one wins, twenty rounds", async () => {
    const prefix = uniquePrefix("race")
    prefixes.add(prefix)
    const a = await startInstance(["redis", REDIS_URL, prefix])
    const b = await startInstance(["redis", REDIS_URL, prefix])
    try {
      for (let round = 0; round < 20; round++) {
        const pair = await (round % 2 ? a : b).call<TokenPair>("issue", `user-${round}`)
        const [fromA, fromB] = await Promise.all([
          a.call<string[]>("refreshAll", pair.refreshToken, 10),
          b.call<string[]>("refreshAll", pair.refreshToken, 10),
        ])
        const results = [...fromA, ...fromB]
        assert.equal(results.length, 20)
        assert.equal(results.filter((result) => result === "ok").length, 1, `round ${round}: ${results.join(", ")}`)
        for (const result of results) {
          if (result !== "ok") assert.ok(["refresh_token_reused", "token_revoked"].includes(result), `round ${round}: ${result}`)
        }
      }
    } finally {
      await a.stop()
      await b.stop()
    }
  })
})
