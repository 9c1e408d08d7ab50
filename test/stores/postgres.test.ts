import assert from "node:assert/strict"
import { fork } from "node:child_process"
import { randomBytes } from "node:crypto"
import { after, describe, test } from "node:test"
import { Pool } from "pg"
import { createAuth } from "../../src/index.ts"
import type { ChangeEvent, Store } from "../../src/stores/contract.ts"
import { postgresStore } from "../../src/stores/postgres.ts"
import { nextEvent, revocation, sessionInput, storeConformance } from "./conformance.ts"

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

async function openStore(schema: string, options: { heartbeatMs?: number } = {}): Promise<Store> {
  const store = postgresStore({ connectionString: URL }, { schema, ...options })
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
  create: () => openStore(newSchema()),
  peer: (store) => openStore(schemaOf.get(store) as string),
})

describe("postgres store", () => {
  test("postgresStore() validates its options at construction, before any connection", () => {
    assert.throws(() => postgresStore({} as never), TypeError)
    assert.throws(() => postgresStore({ connectionString: URL, pool: admin } as never), TypeError)
    assert.throws(() => postgresStore({ connectionString: "" }), TypeError)
    assert.throws(() => postgresStore({ pool: {} as Pool }), TypeError)
    assert.throws(() => postgresStore({ connectionString: URL }, { schema: 'x"; DROP TABLE y; --' }), TypeError)
    assert.throws(() => postgresStore({ connectionString: URL }, { schema: "Upper" }), TypeError)
    assert.throws(() => postgresStore({ connectionString: URL }, { heartbeatMs: 0 }), TypeError)
  })

  test("two stores opening one new schema at once migrate it exactly once", async () => {
    const schema = newSchema()
    await Promise.all([openStore(schema), openStore(schema), openStore(schema)])
    const { rows } = await admin.query(`SELECT version FROM "${schema}".migrations`)
    assert.deepEqual(rows, [{ version: 1 }])
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

  test("the feed beats: subscribers receive sync while the connection is healthy", async () => {
    const store = await openStore(newSchema(), { heartbeatMs: 50 })
    const sync = nextEvent(store, (event) => event.type === "sync")
    assert.deepEqual(await sync, { type: "sync" })
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
    const template = { kind: "session" as const, reason: "evicted", actor: "revocable", createdAt: 0 }
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        store.createSession({ session: sessionInput(), idleSince: 0, limit: 3, onExceed: "reject", evictTemplate: template, leewayMs: 0 }),
      ),
    )
    assert.equal(results.filter((result) => result.ok).length, 3)
    const evicting = await Promise.all(
      Array.from({ length: 10 }, () =>
        store.createSession({ session: sessionInput(), idleSince: 0, limit: 3, onExceed: "evict-oldest", evictTemplate: template, leewayMs: 0 }),
      ),
    )
    assert.ok(evicting.every((result) => result.ok))
    assert.equal(evicting.flatMap((result) => (result.ok ? result.evicted : [])).length, 10)
    const live = await store.listSessions("alice", sessionInput().createdAt, 0)
    assert.equal(live.length, 3)
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
