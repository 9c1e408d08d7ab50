import assert from "node:assert/strict"
import { fork } from "node:child_process"
import { randomBytes } from "node:crypto"
import { after, describe, mock, test } from "node:test"
import { Client, Pool } from "pg"
import { createAuth } from "../../src/index.ts"
import type { ChangeEvent, Clock, Revocation, RevocationInput, RotateResult, SessionInput, Store } from "../../src/core/store.ts"
import { postgresStore } from "../../src/stores/postgres/index.ts"
import { GroupCommit } from "../../src/stores/postgres/batch.ts"
import { revocationKey } from "../../src/stores/shared.ts"
import { createProxy, type Proxy } from "../helpers/postgres.ts"
import { createInput, nextEvent, revocation, rotateInput, sessionInput, storeConformance } from "../../src/testing/conformance.ts"

const URL = process.env.REVOCABLE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test"
const admin = new Pool({ connectionString: URL, max: 2 })
const schemas: string[] = []
const schemaOf = new WeakMap<Store, string>()
const opened: Store[] = []

function newSchema(): string {
  const schema = `t_${process.pid}_${randomBytes(4).toString("hex")}`
  schemas.push(schema)
  return schema
}

async function openStore(schema: string, options: { heartbeatMs?: number; statementTimeoutMs?: number; url?: string; clock?: Clock } = {}): Promise<Store> {
  const { url = URL, ...rest } = options
  const store = postgresStore({ connectionString: url }, { schema, ...rest })
  schemaOf.set(store, schema)
  opened.push(store)
  await store.open()
  return store
}

after(async () => {
  for (const store of opened) await store.close().catch(() => undefined)
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  await admin.end()
})

storeConformance("postgres", {
  create: ({ clock }) => openStore(newSchema(), { clock }),
  peer: (store, { clock }) => openStore(schemaOf.get(store) as string, { clock }),
})

/** A proxy to the test server, and the URL that goes through it. */
async function proxied(): Promise<{ proxy: Proxy; url: string }> {
  const target = new globalThis.URL(URL)
  const proxy = await createProxy(Number(target.port || 5432))
  target.hostname = "127.0.0.1"
  target.port = String(proxy.port)
  return { proxy, url: target.href }
}

/** Until a statement on the schema's revocations waits for a lock (each try a round trip). */
async function waitingOnLock(schema: string): Promise<void> {
  for (;;) {
    const { rowCount } = await admin.query(
      "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND position($1 in query) > 0",
      [`"${schema}".revocations`],
    )
    if (rowCount !== 0) return
  }
}

describe("postgres store", () => {
  test("postgresStore() validates its options at construction, before any connection", () => {
    assert.throws(() => postgresStore({} as never), TypeError)
    assert.throws(() => postgresStore({ connectionString: URL, pool: admin } as never), TypeError)
    assert.throws(() => postgresStore({ connectionString: "" }), TypeError)
    assert.throws(() => postgresStore({ pool: {} as Pool }), TypeError)
    assert.throws(() => postgresStore({ connectionString: URL }, { schema: 'x"; DROP TABLE y; --' }), TypeError)
    assert.throws(() => postgresStore({ connectionString: URL }, { schema: "Upper" }), TypeError)
    assert.throws(() => postgresStore({ connectionString: URL }, { heartbeatMs: 0 }), TypeError)
    assert.throws(() => postgresStore({ connectionString: URL }, { clock: 5 as never }), TypeError)
    for (const statementTimeoutMs of [-1, 1.5, Number.NaN, 3_600_001]) {
      assert.throws(() => postgresStore({ connectionString: URL }, { statementTimeoutMs }), TypeError)
    }
    // A pool of the application's keeps the settings the application gave it.
    assert.throws(() => postgresStore({ pool: admin }, { statementTimeoutMs: 1000 }), TypeError)
  })

  test("two stores opening one new schema at once migrate it exactly once", async () => {
    const schema = newSchema()
    await Promise.all([openStore(schema), openStore(schema), openStore(schema)])
    const { rows } = await admin.query(`SELECT version FROM "${schema}".migrations`)
    assert.deepEqual(rows, [{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }])
  })

  test("a schema from before activation times migrates forward: its keys sign since their creation", async () => {
    const schema = newSchema()
    const first = await openStore(schema)
    const key = { kid: "k-old", alg: "EdDSA", privateJwk: "{}", createdAt: 1_800_000_000_000, activatesAt: 1_800_003_600_000, retiredAt: null }
    await first.saveKey(key)
    await first.close()
    await admin.query(`ALTER TABLE "${schema}".keys DROP COLUMN activates_at`)
    await admin.query(`DELETE FROM "${schema}".migrations WHERE version = 3`)
    const second = await openStore(schema)
    assert.deepEqual(await second.listKeys(), [{ ...key, activatesAt: key.createdAt }])
  })

  test("a schema from before replicaUntil migrates forward: replicas keep its revocations until their expiry", async () => {
    const schema = newSchema()
    const first = await openStore(schema)
    const stored = await first.revoke(revocation({ replicaUntil: revocation().createdAt + 10 }))
    await first.close()
    await admin.query(`DROP INDEX "${schema}".revocations_replica_until`)
    await admin.query(`ALTER TABLE "${schema}".revocations DROP COLUMN replica_until`)
    await admin.query(`DELETE FROM "${schema}".migrations WHERE version = 2`)
    const second = await openStore(schema)
    assert.deepEqual(await second.snapshot(stored.createdAt + 10), [{ ...stored, replicaUntil: stored.expiresAt }])
  })

  test("a snapshot of 25 001 revocations is read in pages of 10 000: each handed over as read, all of them once; createAuth loads them", async () => {
    const schema = newSchema()
    const store = await openStore(schema)
    const now = Date.now()
    // Live ones, and rows kept past their replicaUntil for the store's own decisions, which replicas never see.
    await admin.query(
      `INSERT INTO "${schema}".revocations (kind, id, subject, reason, actor, created_at, expires_at, cutoff, replica_until)
       SELECT 'token', 'jti-' || g, NULL, NULL, NULL, $1::bigint, $2::bigint, 0, CASE WHEN g % 2 = 0 OR g <= 10001 THEN $2::bigint ELSE $1::bigint - 1 END
       FROM generate_series(1, 40000) AS g`,
      [now, now + 3_600_000],
    )
    const pages: number[] = []
    const ids = new Set<string>()
    await (store.readSnapshot as NonNullable<Store["readSnapshot"]>)(now, (page) => {
      pages.push(page.length)
      for (const revocation of page) ids.add(revocation.id)
    })
    assert.deepEqual(pages, [10_000, 10_000, 5_001])
    assert.equal(ids.size, 25_001)
    const whole = await store.snapshot(now)
    assert.deepEqual(new Set(whole.map((revocation) => revocation.id)), ids)
    assert.deepEqual(whole.find((revocation) => revocation.id === "jti-2"), {
      kind: "token", id: "jti-2", subject: null, reason: null, actor: null, createdAt: now, expiresAt: now + 3_600_000, cutoff: 0, replicaUntil: now + 3_600_000,
    })
    const auth = createAuth({ issuer: "https://auth.test", audience: "api", store: postgresStore({ connectionString: URL }, { schema }), purgeInterval: false })
    try {
      await auth.ready()
      assert.equal(auth.replicaStatus().entries, 25_001)
    } finally {
      await auth.close()
    }
  })

  test("a pool given by the application is used and never ended by the store", async () => {
    const pool = new Pool({ connectionString: URL, max: 2 })
    pool.on("error", () => undefined)
    const schema = newSchema()
    const store = postgresStore({ pool }, { schema })
    await store.open()
    await store.revoke(revocation())
    const subscription = await store.subscribe(() => undefined)
    await subscription.close()
    await store.close()
    const { rows } = await pool.query(`SELECT id FROM "${schema}".revocations`)
    assert.deepEqual(rows, [{ id: "jti-1" }])
    await pool.end()
  })

  test("a revocation too large for one NOTIFY reaches other instances whole and in order", async () => {
    const store = await openStore(newSchema())
    const peer = await openStore(schemaOf.get(store) as string)
    const seen: ChangeEvent[] = []
    const last = nextEvent(peer, (event) => event.type === "revoked" && event.revocation.id === "small-2")
    await last.ready
    const subscription = await peer.subscribe((event) => {
      if (event.type === "revoked") seen.push(event)
    })
    const big = revocation({ id: "big", reason: "r".repeat(20_000) })
    await store.revoke(revocation({ id: "small-1" }))
    const stored = await store.revoke(big)
    await store.revoke(revocation({ id: "small-2" }))
    await last
    await subscription.close()
    assert.deepEqual(
      seen.map((event) => event.type === "revoked" && event.revocation.id),
      ["small-1", "big", "small-2"],
    )
    assert.deepEqual(seen[1], { type: "revoked", revocation: stored })
  })

  test("a sync is stamped with when its heartbeat was sent, not when the answer was handled", async () => {
    const heartbeatMs = 100
    const T = 1_800_000_000_000
    // Date and the heartbeat's timer are the test's: the heartbeat goes at T + 50, then 10 s pass before the
    // answer can be handled, as in a process paused in between.
    mock.timers.enable({ apis: ["Date", "setInterval"], now: T })
    const store = await openStore(newSchema(), { heartbeatMs })
    try {
      const sync = nextEvent(store, (event) => event.type === "sync")
      await sync.ready
      mock.timers.tick(heartbeatMs / 2)
      mock.timers.tick(10_000)
      assert.deepEqual(await sync, { type: "sync", at: T + heartbeatMs / 2 })
      assert.equal(Date.now(), T + heartbeatMs / 2 + 10_000)
    } finally {
      await store.close()
      mock.timers.reset()
    }
  })

  test("a process stopped past every bound of the feed takes the answer PostgreSQL sent meanwhile: no reset", async () => {
    // The feed's bounds: the heartbeat's limit, max(4 × heartbeatMs, 5 s), and pg's query_timeout of the store's
    // clients (statementTimeoutMs + 1 s), which the feed's connection must not have.
    const store = await openStore(newSchema(), { heartbeatMs: 100, statementTimeoutMs: 100 })
    const query = Client.prototype.query
    let stopping = false
    let stoppedUntil: number | null = null
    // Once a heartbeat has been written to the server, the whole process stops for 5.6 s (a long GC pause,
    // SIGSTOP), while PostgreSQL answers it at once: when it goes on, its timers are due before it reads the answer.
    mock.method(Client.prototype, "query", function (this: Client, ...args: unknown[]) {
      if (!stopping && args[0] === "SELECT 1") {
        stopping = true
        setImmediate(() => {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5600)
          stoppedUntil = Date.now()
        })
      }
      return (query as (...args: unknown[]) => unknown).apply(this, args)
    })
    try {
      const events: ChangeEvent[] = []
      let heardAfter!: () => void
      const after = new Promise<void>((resolve) => (heardAfter = resolve))
      const subscription = await store.subscribe((event) => {
        events.push(event)
        // A heartbeat sent after the stop was answered: the decision on the one before it has been made.
        if (event.type === "sync" && stoppedUntil !== null && event.at >= stoppedUntil) heardAfter()
      })
      await after
      assert.deepEqual(
        events.filter((event) => event.type !== "sync"),
        [],
        "no reset: the connection was not taken for broken",
      )
      await subscription.close()
    } finally {
      mock.restoreAll()
    }
  })

  test("a lost feed connection reconnects and announces a reset, then delivers again", async () => {
    const schema = newSchema()
    const store = await openStore(schema, { heartbeatMs: 50 })
    const writer = await openStore(schema)
    const reset = nextEvent(store, (event) => event.type === "reset")
    await reset.ready
    const { rowCount } = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [
      `revocable feed ${schema}`,
    ])
    assert.equal(rowCount, 1)
    await reset
    const delivered = nextEvent(store, (event) => event.type === "revoked" && event.revocation.id === "after")
    await delivered.ready
    await writer.revoke(revocation({ id: "after" }))
    await delivered
  })

  test("concurrent logins of one subject never exceed the session limit", async () => {
    const store = await openStore(newSchema())
    const results = await Promise.all(Array.from({ length: 10 }, () => store.createSession(createInput(sessionInput(), 3, "reject"))))
    assert.equal(results.filter((result) => result.ok).length, 3)
    const evicting = await Promise.all(Array.from({ length: 10 }, () => store.createSession(createInput(sessionInput(), 3, "evict-oldest"))))
    assert.ok(evicting.every((result) => result.ok))
    assert.equal(evicting.flatMap((result) => (result.ok ? result.evicted : [])).length, 10)
    const live = await store.listSessions("alice", 3_600_000)
    assert.equal(live.length, 3)
  })

  test("two instances on the server's clock: ten concurrent rotations of one refresh hash, 100 rounds: one rotates, one catches the reuse", async () => {
    const schema = newSchema()
    const [a, b] = [await openStore(schema), await openStore(schema)] as [Store, Store]
    for (let round = 0; round < 100; round++) {
      const sid = `race-${round}`
      assert.ok((await a.createSession(createInput(sessionInput({ sid })))).ok)
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).rotate(rotateInput(sid, "hash-0", `next-${i}`))),
      )
      const statuses = results.map((result) => result.status)
      assert.equal(statuses.filter((status) => status === "rotated").length, 1, `round ${round}: ${statuses.join(" ")}`)
      // The first loser to take the row revokes the session; the others then find it revoked.
      assert.equal(statuses.filter((status) => status === "reused").length, 1, `round ${round}: ${statuses.join(" ")}`)
      assert.equal(statuses.filter((status) => status === "revoked").length, 8, `round ${round}: ${statuses.join(" ")}`)
    }
  })

  test("two instances on the server's clock: without a grace window an immediate replay on the other is a reuse; with one, tolerated", async () => {
    const schema = newSchema()
    const [a, b] = [await openStore(schema), await openStore(schema)] as [Store, Store]
    for (const [sid, graceMs, expected] of [
      ["no-grace", 0, "reused"],
      ["grace", 60_000, "grace"],
    ] as const) {
      assert.ok((await a.createSession(createInput(sessionInput({ sid })))).ok)
      assert.equal((await a.rotate(rotateInput(sid, "hash-0", "hash-1", graceMs))).status, "rotated")
      assert.equal((await b.rotate(rotateInput(sid, "hash-0", "hash-2", graceMs))).status, expected, sid)
    }
  })

  test("ten concurrent refreshes of one token from each of two processes: exactly one wins, twenty rounds", async () => {
    const schema = newSchema()
    const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store: postgresStore({ connectionString: URL }, { schema }) })
    await auth.ready()
    const children = [spawnRefresher(schema), spawnRefresher(schema)]
    try {
      await Promise.all(children.map((child) => child.ready))
      for (let round = 0; round < 20; round++) {
        const pair = await auth.issue(`user-${round}`)
        const outcomes = (await Promise.all(children.map((child) => child.refresh(pair.refreshToken)))).flat()
        assert.equal(outcomes.length, 20)
        assert.equal(outcomes.filter((outcome) => outcome === "ok").length, 1, `round ${round}: ${outcomes.join(" ")}`)
        for (const outcome of outcomes) assert.ok(["ok", "refresh_token_reused", "token_revoked"].includes(outcome), outcome)
      }
    } finally {
      await Promise.all(children.map((child) => child.stop()))
      await auth.close()
    }
  })

  test("refresh replays, revocations and unrevocations of the session and its subject, and evicting logins never deadlock: 200 rounds", async () => {
    const schema = newSchema()
    const T0 = revocation().createdAt
    let time = T0
    const clock = () => time
    // Three instances, so that revocations are written both alone and in group-commit batches of each shape.
    const [a, b, c] = [await openStore(schema, { clock }), await openStore(schema, { clock }), await openStore(schema, { clock })] as [Store, Store, Store]
    const template = { kind: "session" as const, reason: "evicted", actor: "revocable", createdAt: T0 + 50 }
    const create = (store: Store, session: SessionInput, limit: number | null) =>
      store.createSession({ ...createInput(session, limit, "evict-oldest"), evictTemplate: template })
    const rotate = (store: Store, sid: string, subject: string, presentedHash: string, nextHash: string) =>
      store.rotate({
        ...rotateInput(sid, presentedHash, nextHash),
        reuseRevocation: revocation({ kind: "session", id: sid, subject, reason: "refresh token reused", createdAt: T0 + 10 }),
      })
    for (let round = 0; round < 200; round++) {
      const subject = `user-${round}`
      // Created oldest first in descending sid order, so that evicting them oldest first goes against key order.
      const sids = ["c", "b", "a"].map((letter) => `${round}-${letter}`)
      for (const [i, sid] of sids.entries()) {
        time = T0 + i
        assert.ok((await create(a, sessionInput({ sid, subject }), null)).ok)
      }
      time = T0 + 10
      const [main, second] = sids as [string, string]
      assert.equal((await rotate(a, main, subject, "hash-0", "hash-1")).status, "rotated")

      // Each instance writes its first revocation alone, and those that follow it together, as one batch: b two
      // sessions, c the subject and a session.
      const fillers = [b, c].map((store) => store.revoke(revocation({ id: `filler-${round}` })))
      const outcomes = await Promise.allSettled([
        rotate(a, main, subject, "hash-0", "hash-x"),
        rotate(b, main, subject, "hash-0", "hash-y"),
        rotate(a, main, subject, "hash-1", "hash-2"),
        a.revoke(revocation({ kind: "session", id: main, subject, createdAt: T0 + 20 })),
        a.revoke(revocation({ kind: "subject", id: subject, subject, createdAt: T0 + 20 })),
        ...fillers,
        b.revoke(revocation({ kind: "session", id: second, subject, createdAt: T0 + 30 })),
        b.revoke(revocation({ kind: "session", id: main, subject, createdAt: T0 + 30 })),
        c.revoke(revocation({ kind: "subject", id: subject, subject, createdAt: T0 + 30 })),
        c.revoke(revocation({ kind: "session", id: main, subject, createdAt: T0 + 30 })),
        create(a, sessionInput({ sid: `${round}-new`, subject }), 1),
        // Unrevoking takes the session's row, then the revocation's, as revoking does.
        c.unrevoke("session", main),
        b.unrevoke("subject", subject),
      ])
      const failures = outcomes.flatMap((outcome) => (outcome.status === "rejected" ? [outcome.reason as { code?: string; message?: string }] : []))
      assert.deepEqual(failures.map((error) => `${error.code ?? "no SQLSTATE"}: ${error.message}`), [], `round ${round}`)

      const statuses = outcomes.slice(0, 3).map((outcome) => (outcome.status === "fulfilled" ? (outcome.value as RotateResult).status : "rejected"))
      // A replay is caught once, unless the session was unrevoked meanwhile: then the other replay is caught too.
      const unrevokedMain = (outcomes.at(-2) as PromiseFulfilledResult<boolean>).value
      assert.ok(statuses.filter((status) => status === "reused").length <= (unrevokedMain ? 2 : 1), `round ${round}: ${statuses.join(" ")}`)
      // Never "expired": the sessions are young, whatever was revoked or unrevoked around the refresh.
      for (const status of statuses) assert.ok(["rotated", "reused", "revoked"].includes(status), `round ${round}: ${status}`)
      // The session table and the revocations agree: a session is marked revoked exactly when it is revoked.
      const { rows: sessions } = await admin.query<{ sid: string; revoked: boolean; listed: boolean }>(
        `SELECT x.sid, x.revoked_at IS NOT NULL AS revoked, EXISTS (SELECT 1 FROM "${schema}".revocations AS r WHERE r.kind = 'session' AND r.id = x.sid) AS listed
         FROM "${schema}".sessions AS x WHERE x.subject = $1 ORDER BY x.sid`,
        [subject],
      )
      for (const row of sessions) assert.equal(row.revoked, row.listed, `round ${round}: ${row.sid}`)
      // The main session may have been unrevoked last; the second never is.
      assert.equal(sessions.find((row) => row.sid === second)?.revoked, true, `round ${round}: the second session`)
      const { rows: cut } = await admin.query<{ matches: boolean }>(
        `SELECT r.cutoff = s.gen AS matches FROM "${schema}".revocations AS r JOIN "${schema}".subjects AS s ON s.subject = r.id WHERE r.kind = 'subject' AND r.id = $1`,
        [subject],
      )
      // Unless it was unrevoked last, the subject's revocation cuts off at its generation.
      assert.ok(cut.length === 0 || (cut.length === 1 && cut[0]?.matches), `round ${round}: the subject's cut-off is its generation`)
    }
  })

  describe("bounded waits", () => {
    function errorOf(promise: Promise<unknown>): Promise<{ code?: string; cause?: { code?: string } }> {
      return promise.then(
        () => assert.fail("The call was expected to fail."),
        (error: unknown) => error as { code?: string; cause?: { code?: string } },
      )
    }

    test("a call stuck behind a lock held elsewhere fails as store_unavailable when the server cancels it; released, the store works again", async (t) => {
      t.mock.timers.enable({ apis: ["Date"], now: Date.now() })
      const schema = newSchema()
      const store = await openStore(schema, { statementTimeoutMs: 200 })
      const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store, purgeInterval: false })
      await auth.ready()
      const pair = await auth.issue("alice")
      const { sid } = await auth.verify(pair.accessToken)
      const holder = new Client({ connectionString: URL })
      await holder.connect()
      try {
        const held = async (lock: string, values: unknown[], calls: Record<string, () => Promise<unknown>>) => {
          await holder.query("BEGIN")
          await holder.query(lock, values)
          for (const [name, call] of Object.entries(calls)) {
            const error = await errorOf(call())
            assert.equal(error.code, "store_unavailable", name)
            // 55P03: lock_timeout; 57014: statement_timeout. Either way the server gave up, not the client.
            assert.ok(["55P03", "57014"].includes(error.cause?.code ?? ""), `${name}: ${error.cause?.code}`)
          }
          await holder.query("ROLLBACK")
        }
        await held(`SELECT 1 FROM "${schema}".sessions WHERE sid = $1 FOR UPDATE`, [sid], {
          refresh: () => auth.refresh(pair.refreshToken),
          logout: () => auth.logout(pair.accessToken),
        })
        await held(`SELECT 1 FROM "${schema}".subjects WHERE subject = $1 FOR UPDATE`, ["alice"], {
          login: () => auth.issue("alice"),
          "revoke the subject": () => auth.revokeSubject("alice"),
        })
        await held(`LOCK TABLE "${schema}".revocations IN ACCESS EXCLUSIVE MODE`, [], {
          revoke: () => auth.revoke(pair.accessToken),
          "verify in the store": () => {
            // Past maxStaleness the replica may not answer: the verify asks the store.
            t.mock.timers.tick(60_000)
            return auth.verify(pair.accessToken)
          },
        })

        const next = await auth.refresh(pair.refreshToken)
        assert.equal((await auth.verify(next.accessToken)).sub, "alice")
        await auth.logout(next.accessToken)
        await assert.rejects(auth.verify(next.accessToken), { code: "token_revoked" })
        const again = await auth.issue("alice")
        assert.equal((await auth.revokeSubject("alice")).kind, "subject")
        await assert.rejects(auth.refresh(again.refreshToken), { code: "token_revoked" })
      } finally {
        await holder.query("ROLLBACK").catch(() => undefined)
        await holder.end()
        await auth.close()
      }
    })

    test("a server that stops answering: calls fail a second after the bound instead of hanging, and the store recovers", async () => {
      const { proxy, url } = await proxied()
      try {
        const store = await openStore(newSchema(), { statementTimeoutMs: 200, url })
        await store.revoke(revocation())
        const query = { jti: "jti-1", sid: "s", subject: "s", gen: 0, kid: "k", now: revocation().createdAt }
        // Two connections in the pool, each to be stuck on a call.
        await Promise.all([store.isRevoked(query), store.isRevoked(query)])
        proxy.stall()
        const [single, transaction] = await Promise.all([errorOf(store.isRevoked(query)), errorOf(store.createSession(createInput(sessionInput())))])
        for (const error of [single, transaction]) assert.match(String((error as Error).message), /Query read timeout/)
        proxy.restore()
        assert.equal(await store.isRevoked(query), true)
        assert.ok((await store.createSession(createInput(sessionInput()))).ok)
      } finally {
        await proxy.close()
      }
    })

    test("a feed connection that stops answering is given up past its heartbeat's bound: the feed connects anew once it can, and resets", async () => {
      const { proxy, url } = await proxied()
      try {
        const store = await openStore(newSchema(), { heartbeatMs: 100, statementTimeoutMs: 200, url })
        const reset = nextEvent(store, (event) => event.type === "reset")
        await reset.ready
        proxy.stall()
        // No answer for max(4 × heartbeatMs, 5 s): the feed gives its connection up and tries a new one.
        await proxy.nextConnection()
        proxy.restore()
        await reset
      } finally {
        await proxy.close()
      }
    })

    test("the snapshot and the purge go by pages: more rows than one page come back whole, in order", async () => {
      const schema = newSchema()
      const store = await openStore(schema)
      const T0 = revocation().createdAt
      await admin.query(
        `INSERT INTO "${schema}".revocations (kind, id, subject, reason, actor, created_at, expires_at, cutoff, replica_until)
         SELECT 'token', 'jti-' || n, 'alice', NULL, NULL, $1::bigint, $1::bigint + n % 2, 0, $1::bigint + n % 2 FROM generate_series(1, 25001) AS n`,
        [T0],
      )
      const live = await store.snapshot(T0)
      assert.equal(live.length, 12_501)
      assert.deepEqual(live.slice(0, 2).map((row) => row.id), ["jti-1", "jti-3"])
      assert.equal(live.at(-1)?.id, "jti-25001")
      assert.equal(await store.purge(T0), 12_500)
      assert.equal(await store.purge(T0 + 1), 12_501)
      assert.deepEqual(await store.snapshot(T0), [])
    })
  })

  test("a pool given with no 'error' listener: its idle connections killed by the server do not crash the process, the store goes on", async () => {
    const application_name = `revocable test ${randomBytes(4).toString("hex")}`
    const pool = new Pool({ connectionString: URL, max: 2, application_name })
    const store = postgresStore({ pool }, { schema: newSchema() })
    const warnings: Error[] = []
    let warnedTwice!: () => void
    const onWarning = (warning: Error) => {
      if ((warning as { code?: string }).code === "REVOCABLE_POSTGRES_POOL" && warnings.push(warning) === 2) warnedTwice()
    }
    process.on("warning", onWarning)
    try {
      await store.open()
      const terminate = async () => {
        // Both connections of the pool, idle.
        for (const client of [await pool.connect(), await pool.connect()]) client.release()
        const { rowCount } = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [application_name])
        assert.equal(rowCount, 2)
      }
      const twoWarnings = new Promise<void>((resolve) => (warnedTwice = resolve))
      await terminate()
      await twoWarnings
      assert.equal(pool.totalCount, 0, "the pool dropped both")
      assert.equal((await store.revoke(revocation({ id: "after" }))).id, "after")

      // Once the application listens itself, the store leaves the reporting to it.
      let erredTwice!: () => void
      const twoErrors = new Promise<void>((resolve) => (erredTwice = resolve))
      let errors = 0
      pool.on("error", () => {
        if (++errors === 2) erredTwice()
      })
      await terminate()
      await twoErrors
      // Warnings are emitted on the next tick: any would be in by the time setImmediate runs.
      await new Promise((resolve) => setImmediate(resolve))
      assert.equal(warnings.length, 2)
      assert.equal((await store.revoke(revocation({ id: "later" }))).id, "later")
      await store.close()
      assert.equal(pool.listenerCount("error"), 1, "the store takes its listener away on close")
    } finally {
      process.off("warning", onWarning)
      await store.close()
      await pool.end()
    }
  })

  describe("lost connections", () => {
    const query = { jti: "jti-1", sid: "s", subject: "alice", gen: 0, kid: "k", now: revocation().createdAt }

    test("every backend of the store terminated, one mid-statement: the revocation is written again on a new connection and resolves", async () => {
      const application_name = `revocable test ${randomBytes(4).toString("hex")}`
      const schema = newSchema()
      const store = await openStore(schema, { url: `${URL}?application_name=${encodeURIComponent(application_name)}` })
      await store.subscribe(() => undefined)
      // Waiting for a lock the holder keeps, the revocation is in its statement when its backend goes.
      const holder = new Client({ connectionString: URL })
      await holder.connect()
      try {
        await holder.query("BEGIN")
        await holder.query(
          `INSERT INTO "${schema}".revocations (kind, id, subject, reason, actor, created_at, expires_at, cutoff, replica_until) VALUES ('token', 'held', NULL, NULL, NULL, 0, 0, 0, 0)`,
        )
        const revoking = store.revoke(revocation({ id: "held" }))
        await waitingOnLock(schema)
        // Each terminated backend has exited when its pg_terminate_backend returns.
        const { rows } = await admin.query<{ gone: boolean }>(
          "SELECT pg_terminate_backend(pid, 10000) AS gone FROM pg_stat_activity WHERE application_name = $1",
          [application_name],
        )
        assert.ok(rows.length >= 2 && rows.every((row) => row.gone), "the pool's backends and the feed's")
        await holder.query("ROLLBACK")
        assert.equal((await revoking).id, "held")
      } finally {
        await holder.query("ROLLBACK").catch(() => undefined)
        await holder.end()
      }
      assert.equal(await store.isRevoked({ ...query, jti: "held" }), true)

      // Idle this time: whether or not the pool has heard yet, the next calls succeed.
      await Promise.all(Array.from({ length: 4 }, () => store.isRevoked(query)))
      await admin.query("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE application_name = $1", [application_name])
      const [revoked, listed] = await Promise.all([store.revoke(revocation({ id: "after" })), store.snapshot(query.now)])
      assert.equal(revoked.id, "after")
      assert.ok(listed.some((row) => row.id === "held"))
    })

    test("connections that died unannounced (reset at their next write): safe calls run again on a new connection; a rotation rejects, writing nothing", async () => {
      const { proxy, url } = await proxied()
      try {
        const store = await openStore(newSchema(), { url })
        assert.ok((await store.createSession(createInput(sessionInput({ sid: "s-1" })))).ok)
        // Four connections in the pool, each dead to the server once reset.
        await Promise.all(Array.from({ length: 4 }, () => store.isRevoked(query)))
        proxy.reset()
        // Not safe to run twice, so not run twice: the client cannot tell whether the server saw it.
        await assert.rejects(store.rotate(rotateInput("s-1", "hash-0", "hash-1")), { code: "ECONNRESET" })
        assert.equal((await store.revoke(revocation())).id, "jti-1")
        assert.equal(await store.isRevoked(query), true)
        await store.saveKey({ kid: "k-1", alg: "EdDSA", privateJwk: "{}", createdAt: query.now, activatesAt: query.now, retiredAt: null })
        assert.deepEqual((await store.listKeys()).map((key) => key.kid), ["k-1"])
        assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-1"))).status, "rotated", "the rejected rotation wrote nothing")
      } finally {
        await proxy.close()
      }
    })
  })

  describe("group commit", () => {
    const T0 = revocation().createdAt
    const HOUR = 3_600_000

    function createSession(store: Store, session: SessionInput) {
      return store.createSession(createInput(session))
    }

    test("writes an item alone when idle, then what queued meanwhile in batches of at most the bound", async () => {
      const sizes: number[] = []
      let release!: () => void
      const held = new Promise<void>((resolve) => (release = resolve))
      const commit = new GroupCommit<number, number>(async (items) => {
        sizes.push(items.length)
        if (sizes.length === 1) await held
        return items.map((item) => item * 2)
      }, 500)
      const results = Promise.all(Array.from({ length: 1201 }, (_, i) => commit.push(i)))
      assert.deepEqual(sizes, [1])
      release()
      assert.deepEqual(await results, Array.from({ length: 1201 }, (_, i) => i * 2))
      assert.deepEqual(sizes, [1, 500, 500, 200])
      assert.equal(await commit.push(7), 14)
      assert.deepEqual(sizes, [1, 500, 500, 200, 1])
    })

    test("1000 concurrent revocations of every kind, duplicates included, resolve with their own records, each committed and delivered once, in commit order", async () => {
      const schema = newSchema()
      const store = await openStore(schema)
      const peer = await openStore(schema, { heartbeatMs: 50 })
      const sids = Array.from({ length: 40 }, (_, i) => `sess-${i}`)
      await Promise.all(sids.map((sid) => createSession(store, sessionInput({ sid, subject: `owner-${sid}` }))))
      const before = await createSession(store, sessionInput({ sid: "alice-1", subject: "alice" }))
      assert.ok(before.ok)

      // The first call is written at once, alone; every later one queues behind it, so adjacent calls share a batch.
      const inputs: RevocationInput[] = [
        revocation({ id: "alone" }),
        revocation({ id: "dup", reason: "first" }),
        revocation({ id: "dup", reason: "second", createdAt: T0 + 5, expiresAt: T0 + 2 * HOUR }),
        revocation({ kind: "subject", id: "alice", reason: "first" }),
        revocation({ kind: "subject", id: "alice", reason: "second", createdAt: T0 + 1 }),
        revocation({ kind: "session", id: "sess-0", subject: "owner-sess-0", createdAt: T0 + 7 }),
        revocation({ kind: "session", id: "sess-0", subject: "owner-sess-0", createdAt: T0 + 9, expiresAt: T0 + 3 * HOUR }),
        revocation({ id: "big", reason: "r".repeat(20_000) }),
        ...sids.slice(1).map((sid) => revocation({ kind: "session", id: sid, subject: `owner-${sid}`, createdAt: T0 + 10 })),
        ...Array.from({ length: 20 }, (_, i) => revocation({ kind: "subject", id: `user-${i}`, subject: `user-${i}` })),
        ...Array.from({ length: 10 }, (_, i) => revocation({ kind: "key", id: `kid-${i}`, subject: null })),
      ]
      while (inputs.length < 998) inputs.push(revocation({ id: `jti-${inputs.length}`, subject: `user-${inputs.length % 7}` }))
      inputs.push(revocation({ id: "dup-late", expiresAt: T0 + 2 * HOUR }), revocation({ id: "dup-late", createdAt: T0 + 1, reason: "later" }))
      const keys = new Set(inputs.map((input) => revocationKey(input.kind, input.id)))

      const delivered: Revocation[] = []
      let sawAll!: () => void
      const allDelivered = new Promise<void>((resolve) => (sawAll = resolve))
      const subscription = await peer.subscribe((event) => {
        if (event.type !== "revoked") return
        delivered.push(event.revocation)
        if (new Set(delivered.map((row) => revocationKey(row.kind, row.id))).size === keys.size) sawAll()
      })
      const results = await Promise.all(inputs.map((input) => store.revoke(input)))

      // Given no replicaUntil, replicas keep each to its (latest) expiry.
      const expected = inputs.map((input): Revocation => ({ ...input, cutoff: 0, replicaUntil: input.expiresAt }))
      const dup = { ...revocation({ id: "dup", reason: "first" }), expiresAt: T0 + 2 * HOUR, cutoff: 0, replicaUntil: T0 + 2 * HOUR }
      expected[1] = dup
      expected[2] = dup
      const alice = results[3] as Revocation
      assert.ok(alice.cutoff > before.session.gen)
      expected[3] = { ...(expected[3] as Revocation), cutoff: alice.cutoff }
      expected[4] = { ...(expected[4] as Revocation), cutoff: alice.cutoff + 1 }
      const session = { ...(inputs[5] as RevocationInput), expiresAt: T0 + 3 * HOUR, cutoff: 0, replicaUntil: T0 + 3 * HOUR }
      expected[5] = session
      expected[6] = session
      for (const [index, input] of inputs.entries()) if (input.id.startsWith("user-") && input.kind === "subject") expected[index] = { ...input, cutoff: 1, replicaUntil: input.expiresAt }
      const late = { ...revocation({ id: "dup-late" }), expiresAt: T0 + 2 * HOUR, cutoff: 0, replicaUntil: T0 + 2 * HOUR }
      expected[998] = late
      expected[999] = late
      assert.deepEqual(results, expected)

      // The last caller of each id holds the record as committed.
      const committed = new Map(results.map((row) => [revocationKey(row.kind, row.id), row]))
      const snapshot = await store.snapshot(T0)
      assert.equal(snapshot.length, keys.size)
      assert.deepEqual(new Map(snapshot.map((row) => [revocationKey(row.kind, row.id), row])), committed)
      assert.equal(await store.isRevoked({ jti: "x", sid: "x", subject: "alice", gen: alice.cutoff, kid: "x", now: T0 }), true)
      assert.equal(await store.isRevoked({ jti: "x", sid: "x", subject: "alice", gen: alice.cutoff + 1, kid: "x", now: T0 }), false)
      assert.equal((await store.getSession("sess-0"))?.revokedAt, T0 + 7)
      for (const sid of sids.slice(1)) assert.equal((await store.getSession(sid))?.revokedAt, T0 + 10)

      await allDelivered
      // The second heartbeat from now was sent after every commit: anything delivered twice would be in by then.
      let syncs = 0
      await nextEvent(peer, (event) => event.type === "sync" && ++syncs === 2)
      await subscription.close()
      assert.equal(delivered.length, keys.size, "each revocation is delivered once")
      assert.deepEqual(new Map(delivered.map((row) => [revocationKey(row.kind, row.id), row])), committed)
      const { rows } = await admin.query<{ kind: string; id: string; seq: string }>(`SELECT kind, id, seq FROM "${schema}".revocations`)
      const seqOf = new Map(rows.map((row) => [revocationKey(row.kind as Revocation["kind"], row.id), Number(row.seq)]))
      const order = delivered.map((row) => seqOf.get(revocationKey(row.kind, row.id)) as number)
      assert.deepEqual(order, [...order].sort((a, b) => a - b), "delivered in the order committed")
      await Promise.all([store.close(), peer.close()])
    })

    test("a batch whose connection fails rejects every caller in it and records none of it", async () => {
      const { proxy, url } = await proxied()
      let through: Store | undefined
      try {
        const schema = newSchema()
        const store = (through = await openStore(schema, { url }))
        const created = await createSession(store, sessionInput({ sid: "carol-1", subject: "carol" }))
        assert.ok(created.ok)
        const batches: Record<string, RevocationInput[]> = {
          "tokens only": Array.from({ length: 50 }, (_, i) => revocation({ id: `lost-${i}` })),
          "with a subject and a session": [
            revocation({ id: "lost-token" }),
            revocation({ kind: "subject", id: "carol", subject: "carol" }),
            revocation({ kind: "session", id: "carol-1", subject: "carol" }),
            revocation({ kind: "key", id: "lost-kid", subject: null }),
          ],
        }
        const holder = new Client({ connectionString: URL })
        await holder.connect()
        try {
          for (const [name, batch] of Object.entries(batches)) {
            proxy.restore()
            // A revocation waits on a row the holder is inserting, so that the batch queues behind it; the
            // connection is cut while it waits, before the batch is sent.
            await holder.query("BEGIN")
            await holder.query(
              `INSERT INTO "${schema}".revocations (kind, id, subject, reason, actor, created_at, expires_at, cutoff, replica_until) VALUES ('token', $1, NULL, NULL, NULL, 0, 0, 0, 0)`,
              [`alone ${name}`],
            )
            const alone = store.revoke(revocation({ id: `alone ${name}` }))
            const calls = batch.map((input) => store.revoke(input))
            await waitingOnLock(schema)
            proxy.cut()
            // The server had its statement: it may well commit, but no caller was told so.
            await assert.rejects(alone)
            const settled = await Promise.allSettled(calls)
            await holder.query("ROLLBACK")
            const reasons = new Set(settled.map((outcome) => (outcome.status === "rejected" ? outcome.reason : "resolved")))
            assert.equal(reasons.size, 1, `${name}: every caller shares the batch's one failure`)
            assert.ok([...reasons][0] instanceof Error, name)
          }
        } finally {
          await holder.end()
        }
        const { rows } = await admin.query<{ id: string }>(`SELECT id FROM "${schema}".revocations WHERE id NOT LIKE 'alone %'`)
        assert.deepEqual(rows, [])
        const { rows: subjects } = await admin.query<{ gen: string }>(`SELECT gen FROM "${schema}".subjects WHERE subject = 'carol'`)
        assert.deepEqual(subjects, [{ gen: "0" }])
        const { rows: sessions } = await admin.query<{ revoked_at: string | null }>(`SELECT revoked_at FROM "${schema}".sessions`)
        assert.deepEqual(sessions, [{ revoked_at: null }])

        proxy.restore()
        const [token, subject] = await Promise.all([store.revoke(revocation({ id: "after" })), store.revoke(revocation({ kind: "subject", id: "carol" }))])
        assert.equal(token.id, "after")
        assert.equal(subject.cutoff, 1)
      } finally {
        await through?.close()
        await proxy.close()
      }
    })

    test("a revocation the server refuses fails alone: the others in its batch are written", async () => {
      const store = await openStore(newSchema())
      const calls = [
        store.revoke(revocation({ id: "alone" })),
        store.revoke(revocation({ id: "good" })),
        store.revoke(revocation({ id: "bad\u0000id" })),
        store.revoke(revocation({ kind: "subject", id: "alice" })),
      ]
      const [alone, good, bad, subject] = await Promise.allSettled(calls)
      assert.equal(alone?.status, "fulfilled")
      assert.equal(good?.status, "fulfilled")
      assert.equal(subject?.status, "fulfilled")
      assert.equal(bad?.status === "rejected" && (bad.reason as { code?: string }).code, "22021")
      assert.deepEqual((await store.snapshot(T0)).map((row) => row.id).sort(), ["alice", "alone", "good"])
      await store.close()
    })
  })
})

interface Refresher {
  ready: Promise<void>
  refresh(token: string): Promise<string[]>
  stop(): Promise<void>
}

function spawnRefresher(schema: string): Refresher {
  const child = fork(new globalThis.URL("../fixtures/pg-refresher.ts", import.meta.url), [], {
    env: { ...process.env, REVOCABLE_TEST_POSTGRES: URL, REVOCABLE_TEST_SCHEMA: schema },
    execArgv: [],
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const waiting: Array<{ resolve(message: unknown): void; reject(error: Error): void }> = []
  const reply = () => new Promise<unknown>((resolve, reject) => waiting.push({ resolve, reject }))
  child.on("message", (message) => waiting.shift()?.resolve(message))
  child.once("exit", (code) => {
    for (const { reject } of waiting.splice(0)) reject(new Error(`The refresher exited with code ${code}.`))
  })
  return {
    ready: reply().then(() => undefined),
    async refresh(token) {
      const outcome = reply()
      child.send({ token })
      return (await outcome) as string[]
    },
    async stop() {
      if (child.exitCode === null && child.connected) child.send({ stop: true })
      await exited
    },
  }
}
