import type { ServerStore } from "../../src/stores/server-store.ts"
import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { after, describe, test } from "node:test"
import { createAuth } from "../../src/index.ts"
import { refreshHash } from "../../src/core/ids.ts"
import { sqliteStore, type SqliteStoreOptions } from "../../src/stores/sqlite/index.ts"
import type { ChangeEvent, CreateSessionInput, RotateInput, Store } from "../../src/core/store.ts"
import { nextEvent, revocation, storeConformance } from "../../src/testing/conformance.ts"

const dir = mkdtempSync(join(tmpdir(), "revocable-sqlite-"))
let files = 0
const opened: Store[] = []
after(async () => {
  for (const store of opened) await store.close()
  rmSync(dir, { recursive: true, force: true })
})

function freshPath(): string {
  return join(dir, `store-${++files}`, "revocable.db")
}

async function open(path: string, options: Omit<SqliteStoreOptions, "path"> = {}): Promise<ServerStore> {
  const store = sqliteStore({ path, ...options })
  opened.push(store)
  await store.open()
  return store
}

const paths = new WeakMap<Store, string>()

storeConformance("sqlite", {
  async create({ clock }) {
    const path = freshPath()
    const store = await open(path, { clock })
    paths.set(store, path)
    return store
  },
  async peer(store, { clock }) {
    const path = paths.get(store)
    assert.ok(path, "peer() is given a store made by create()")
    return open(path, { clock })
  },
})

const T0 = 1_800_000_000_000
const HOUR = 3_600_000
const YEAR = 365 * 24 * HOUR

function createInput(sid: string): CreateSessionInput {
  return {
    session: { sid, subject: "alice", ttlMs: HOUR, device: null, claims: {}, refreshHash: "hash-0" },
    idleTimeoutMs: HOUR,
    limit: null,
    onExceed: "reject",
    evictTemplate: { kind: "session", reason: "evicted", actor: "test", createdAt: T0 },
    leewayMs: 0,
  }
}

function rotateInput(sid: string, presentedHash: string, nextHash: string, graceMs: number): RotateInput {
  return { sid, presentedHash, nextHash, graceMs, idleTimeoutMs: HOUR, reuseRevocation: revocation({ kind: "session", id: sid }) }
}

/** Collects every event a store delivers, for tests that look at the order of what arrived. */
async function record(store: Store): Promise<ChangeEvent[]> {
  const events: ChangeEvent[] = []
  await store.subscribe((event) => {
    if (event.type !== "sync") events.push(event)
  })
  return events
}

describe("sqlite store specifics", () => {
  test("sqliteStore() validates its options at construction", () => {
    assert.throws(() => sqliteStore({ path: "" }), TypeError)
    assert.throws(() => sqliteStore({} as never), TypeError)
    assert.throws(() => sqliteStore({ path: "x.db", pollInterval: 0 }), TypeError)
    assert.throws(() => sqliteStore({ path: "x.db", pollInterval: Number.NaN }), TypeError)
    assert.throws(() => sqliteStore({ path: "x.db", busyTimeoutMs: -1 }), TypeError)
    assert.throws(() => sqliteStore({ path: "x.db", busyTimeoutMs: 1.5 }), TypeError)
    assert.throws(() => sqliteStore({ path: "x.db", clock: Date.now() as never }), TypeError)
  })

  test("by default session times are SQLite's clock, not the process's Date", async (t) => {
    const store = await open(freshPath())
    const before = Date.now()
    t.mock.timers.enable({ apis: ["Date"], now: before - YEAR })
    const created = await store.createSession(createInput("s-1"))
    t.mock.timers.setTime(before + YEAR)
    const rotated = await store.rotate(rotateInput("s-1", "hash-0", "hash-1", 0))
    const listed = await store.listSessions("alice", HOUR)
    t.mock.timers.setTime(before - YEAR)
    const replay = await store.rotate(rotateInput("s-1", "hash-0", "hash-2", 0))
    t.mock.timers.reset()
    const after = Date.now()

    assert.ok(created.ok)
    const { createdAt, lastUsedAt, expiresAt } = created.session
    assert.ok(before <= createdAt && createdAt <= after, "created at the real time, not a year back")
    assert.equal(lastUsedAt, createdAt)
    assert.equal(expiresAt, createdAt + HOUR)
    assert.equal(rotated.status, "rotated", "not over, though Date says a year has passed")
    assert.ok(rotated.status === "rotated" && before <= rotated.session.lastUsedAt && rotated.session.lastUsedAt <= after)
    assert.deepEqual(listed.map((session) => session.sid), ["s-1"])
    assert.equal(replay.status, "reused", "with graceMs 0 the spent token is refused, though Date went back before the rotation")
  })

  test("given a clock, graceMs 0 tolerates nothing and a rotation stamped after now opens no grace", async () => {
    let now = T0
    const store = await open(freshPath(), { clock: () => now })
    await store.createSession(createInput("s-1"))
    assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-1", 0))).status, "rotated")
    assert.equal((await store.rotate(rotateInput("s-1", "hash-0", "hash-2", 0))).status, "reused", "in the same millisecond")
    await store.createSession(createInput("s-2"))
    now = T0 + 100
    assert.equal((await store.rotate(rotateInput("s-2", "hash-0", "hash-1", 1000))).status, "rotated")
    now = T0 + 50
    assert.equal((await store.rotate(rotateInput("s-2", "hash-0", "hash-2", 1000))).status, "reused", "the clock went back")
  })

  test("a write that finds the file locked elsewhere rejects after busyTimeoutMs; reads go on", async () => {
    const path = freshPath()
    const store = await open(path, { busyTimeoutMs: 20 })
    const other = new DatabaseSync(path)
    other.exec("BEGIN IMMEDIATE")
    try {
      await assert.rejects(store.revoke(revocation()), { errcode: 5 })
      await assert.rejects(store.createSession(createInput("s-1")), { errcode: 5 })
      assert.deepEqual(await store.snapshot(T0), [])
      assert.equal(await store.getSession("s-1"), null)
    } finally {
      other.exec("ROLLBACK")
      other.close()
    }
    assert.equal((await store.revoke(revocation())).id, "jti-1", "the store works again once the lock is released")
  })

  test("open() creates the directory, the schema in WAL mode, and is idempotent", async () => {
    const path = freshPath()
    const store = await open(path)
    await store.open()
    const db = new DatabaseSync(path, { readOnly: true })
    try {
      assert.equal((db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode, "wal")
      assert.equal((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version, 5)
      const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all().map((row) => row.name)
      assert.deepEqual(tables, ["audit", "changes", "documents", "generations", "meta", "rate_windows", "revocations", "sessions", "signing_keys", "sqlite_sequence"])
    } finally {
      db.close()
    }
  })

  test("open() migrates an older schema forward and keeps its data, replicas keeping old revocations to their expiry and old keys signing since their creation", async () => {
    const path = freshPath()
    const first = await open(path)
    await first.revoke(revocation({ replicaUntil: T0 + 10 }))
    const key = { kid: "k-old", alg: "EdDSA", privateJwk: "{}", createdAt: T0, activatesAt: T0 + HOUR, retiredAt: null }
    await first.saveKey(key)
    await first.close()
    const db = new DatabaseSync(path)
    db.exec("DROP INDEX revocations_replica_until; ALTER TABLE revocations DROP COLUMN replica_until")
    db.exec("ALTER TABLE signing_keys DROP COLUMN activates_at")
    db.exec("DROP TABLE documents; DROP TABLE rate_windows; PRAGMA user_version = 1")
    db.close()
    const second = await open(path)
    assert.deepEqual(await second.snapshot(T0 + 10), [{ ...revocation(), cutoff: 0, replicaUntil: T0 + HOUR }])
    assert.deepEqual(await second.listKeys(), [{ ...key, activatesAt: T0 }])
    assert.equal(await second.putDocument("users", "alice", "{}", null), true)
    assert.equal(await second.getDocument("users", "alice"), "{}")
  })

  test("a snapshot of 25 001 revocations is handed over in pages of 10 000, each once, in one read; createAuth loads them", async () => {
    const path = freshPath()
    const store = await open(path)
    // Live ones, and rows kept past their replicaUntil for the store's own decisions, which replicas never see.
    const db = new DatabaseSync(path)
    db.exec("BEGIN")
    const insert = db.prepare("INSERT INTO revocations (kind, id, created_at, expires_at, cutoff, replica_until) VALUES ('token', ?, ?, ?, 0, ?)")
    for (let i = 1; i <= 40_000; i++) insert.run(`jti-${i}`, T0, T0 + HOUR, i % 2 === 0 || i <= 10_001 ? T0 + HOUR : T0 - 1)
    db.exec("COMMIT")
    db.close()
    const pages: number[] = []
    const ids = new Set<string>()
    await (store.readSnapshot as NonNullable<Store["readSnapshot"]>)(T0, (page) => {
      pages.push(page.length)
      for (const row of page) ids.add(row.id)
    })
    assert.deepEqual(pages, [10_000, 10_000, 5_001])
    assert.equal(ids.size, 25_001)
    assert.deepEqual(new Set((await store.snapshot(T0)).map((row) => row.id)), ids)
    await assert.rejects(
      (store.readSnapshot as NonNullable<Store["readSnapshot"]>)(T0, () => {
        throw new Error("the loader failed")
      }),
      /the loader failed/,
    )
    // The statement was left reset: the store reads (and writes) on.
    await store.revoke(revocation({ id: "after" }))
    assert.equal((await store.snapshot(T0)).length, 25_002)
    const auth = createAuth({ issuer: "https://auth.test", audience: "api", store: sqliteStore({ path }), purgeInterval: false, clock: () => T0 })
    try {
      await auth.ready()
      assert.equal(auth.replicaStatus().entries, 25_002)
    } finally {
      await auth.close()
    }
  })

  test("open() refuses a database written by a newer schema", async () => {
    const path = freshPath()
    await (await open(path)).close()
    const db = new DatabaseSync(path)
    db.exec("PRAGMA user_version = 99")
    db.close()
    await assert.rejects(open(path), /schema version 99/)
  })

  test("data written by one store object is read back by a new one on the same file", async () => {
    const path = freshPath()
    const first = await open(path)
    await first.revoke(revocation({ kind: "subject", id: "alice" }))
    await first.close()
    const second = await open(path)
    assert.deepEqual(await second.snapshot(T0), [{ ...revocation({ kind: "subject", id: "alice" }), cutoff: 1, replicaUntil: T0 + HOUR }])
    const again = await second.revoke(revocation({ kind: "subject", id: "alice" }))
    assert.equal(again.cutoff, 2, "the subject generation survived the reopen")
  })

  test("after close() every method rejects", async () => {
    const store = await open(freshPath())
    await store.close()
    await assert.rejects(store.revoke(revocation()), /closed/)
    await assert.rejects(store.snapshot(T0), /closed/)
    await assert.rejects(store.subscribe(() => undefined), /closed/)
    await assert.rejects(store.open(), /closed/)
    await store.close()
  })

  test("methods reject before open()", async () => {
    await assert.rejects(sqliteStore({ path: freshPath() }).snapshot(T0), /not open/)
  })

  test("a subscriber hears sync heartbeats while it listens", async () => {
    const store = await open(freshPath(), { pollInterval: 5 })
    await nextEvent(store, (event) => event.type === "sync")
  })

  test("a poll's sync is stamped when the poll began, not when what it read was handled", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: T0 })
    const path = freshPath()
    const writer = await open(path)
    const reader = await open(path, { pollInterval: 5 })
    let handled = false
    const syncAfter = new Promise<number>((resolve, reject) => {
      reader
        .subscribe((event) => {
          if (event.type === "revoked") {
            // Handling the change takes an hour (a pause): the sync after it still says when the poll began.
            t.mock.timers.setTime(T0 + HOUR)
            handled = true
          }
          if (event.type === "sync" && handled) resolve(event.at)
        })
        .then(() => writer.revoke(revocation({ id: "x" })))
        .catch(reject)
    })
    assert.equal(await syncAfter, T0)
  })

  test("a write delivers earlier changes from another store object first, in commit order", async () => {
    const path = freshPath()
    const writer = await open(path)
    // A poll interval that never fires in this test: only the write below can bring in the other's change.
    const local = await open(path, { pollInterval: 3_600_000 })
    const events = await record(local)
    await writer.revoke(revocation({ id: "x" }))
    await local.unrevoke("token", "x")
    assert.deepEqual(
      events.map((event) => (event.type === "revoked" ? `+${event.revocation.id}` : event.type === "unrevoked" ? `-${event.id}` : event.type)),
      ["+x", "-x"],
    )
  })

  test("a subscriber that fell behind a trimmed change log is told to reset", async () => {
    const path = freshPath()
    const writer = await open(path)
    const behind = await open(path, { pollInterval: 3_600_000 })
    const events = await record(behind)
    await writer.revoke(revocation({ id: "missed", expiresAt: T0 + 10 * HOUR }))
    await writer.purge(T0)
    await writer.revoke(revocation({ id: "kept", expiresAt: T0 + 10 * HOUR }))
    await writer.purge(T0 + HOUR)
    // Subscribing again makes the store catch up at once, as its next poll would.
    await behind.subscribe(() => undefined)
    assert.deepEqual(
      events.map((event) => (event.type === "revoked" ? `+${event.revocation.id}` : event.type)),
      ["reset", "+kept"],
    )
  })

  test("purge keeps change-log rows younger than an hour", async () => {
    const path = freshPath()
    const writer = await open(path)
    await writer.revoke(revocation({ id: "a", expiresAt: T0 + 10 * HOUR }))
    await writer.purge(T0)
    await writer.purge(T0 + HOUR - 1)
    const db = new DatabaseSync(path, { readOnly: true })
    try {
      assert.equal((db.prepare("SELECT count(*) AS n FROM changes").get() as { n: number }).n, 1)
    } finally {
      db.close()
    }
    await writer.purge(T0 + HOUR)
    const after = new DatabaseSync(path, { readOnly: true })
    try {
      assert.equal((after.prepare("SELECT count(*) AS n FROM changes").get() as { n: number }).n, 0)
    } finally {
      after.close()
    }
  })

  test("the file holds refresh tokens only as hashes", async () => {
    const path = freshPath()
    const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store: sqliteStore({ path }) })
    const first = await auth.issue("alice", { claims: { role: "reader" }, device: "Firefox" })
    const second = await auth.refresh(first.refreshToken)
    await auth.close()
    const jtis = [first, second].map((pair) => {
      const payload = JSON.parse(Buffer.from(pair.refreshToken.split(".")[1] ?? "", "base64url").toString()) as { jti: string }
      return payload.jti
    })
    const db = new DatabaseSync(path, { readOnly: true })
    try {
      const session = db.prepare("SELECT current_hash, previous_hash, claims, device FROM sessions").get()
      assert.deepEqual({ ...session }, {
        current_hash: refreshHash(jtis[1] ?? ""),
        previous_hash: refreshHash(jtis[0] ?? ""),
        claims: '{"role":"reader"}',
        device: "Firefox",
      })
      const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all().map((row) => String(row.name))
      for (const table of tables) {
        const dump = JSON.stringify(db.prepare(`SELECT * FROM "${table}"`).all())
        for (const jti of jtis) assert.ok(!dump.includes(jti), `table ${table} holds no refresh jti`)
        for (const pair of [first, second]) assert.ok(!dump.includes(pair.refreshToken), `table ${table} holds no refresh token`)
      }
    } finally {
      db.close()
    }
  })

  test("ten concurrent refreshes of one refresh token through createAuth: exactly one succeeds, twenty rounds", async () => {
    const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store: sqliteStore({ path: freshPath() }) })
    try {
      for (let round = 0; round < 20; round++) {
        const pair = await auth.issue("alice")
        const results = await Promise.allSettled(Array.from({ length: 10 }, () => auth.refresh(pair.refreshToken)))
        assert.equal(results.filter((result) => result.status === "fulfilled").length, 1, `round ${round}`)
        for (const result of results) {
          if (result.status === "rejected") assert.ok(["refresh_token_reused", "token_revoked"].includes(result.reason.code), result.reason.code)
        }
      }
    } finally {
      await auth.close()
    }
  })
})
