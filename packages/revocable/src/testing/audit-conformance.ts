// The audit log's part of the store conformance suite (storeConformance runs it for every ServerStore).
import assert from "node:assert/strict"
import { test } from "node:test"
import type { AuditEvent, AuditInput, AuditQuery, ServerStore } from "../stores/server-store.ts"

export interface AuditConformanceContext {
  /** A fresh, empty, opened store whose clock starts at `start`. */
  fresh(): Promise<ServerStore>
  /** Moves the store's clock. */
  at(ms: number): void
  start: number
}

export function auditEvent(overrides: Partial<AuditInput> = {}): AuditInput {
  return {
    type: "login.succeeded",
    subject: "alice",
    actor: "alice",
    sessionId: "sid-1",
    ip: "192.0.2.1",
    userAgent: "Firefox on Linux",
    reason: null,
    details: '{"client":"console"}',
    ...overrides,
  }
}

async function everything(store: ServerStore, query: Omit<AuditQuery, "cursor">): Promise<AuditEvent[]> {
  const events: AuditEvent[] = []
  let cursor: string | null = null
  do {
    const page = await store.listAudit({ ...query, cursor })
    assert.ok(page.items.length <= query.limit)
    events.push(...page.items)
    cursor = page.next
  } while (cursor !== null)
  return events
}

/** An event with its details parsed where they are JSON: stores may write the JSON they rewrite differently. */
function comparable(event: AuditEvent): AuditEvent & { details: unknown } {
  try {
    return { ...event, details: event.details === null ? null : JSON.parse(event.details) }
  } catch {
    return event
  }
}

export function auditConformance({ fresh, at, start }: AuditConformanceContext): void {
  test("an appended event is dated by the store's clock and read back whole", async () => {
    const store = await fresh()
    at(start + 5)
    const appended = await store.appendAudit(auditEvent())
    assert.equal(appended.at, start + 5)
    assert.equal(typeof appended.id, "string")
    assert.deepEqual(appended, { ...auditEvent(), id: appended.id, at: start + 5 })
    const bare = await store.appendAudit(auditEvent({ type: "key.rotated", subject: null, actor: null, sessionId: null, ip: null, userAgent: null, details: null }))
    assert.notEqual(bare.id, appended.id)
    assert.deepEqual((await store.listAudit({ limit: 10 })).items, [bare, appended], "newest first, nulls kept as null")
  })

  test("the log is listed newest first in pages, each event once, filtered by subject, type and time", async () => {
    const store = await fresh()
    const appended: AuditEvent[] = []
    // Five events share one millisecond: they keep their order of appending across page boundaries.
    for (let i = 0; i < 12; i++) {
      at(start + (i < 5 ? 0 : i * 1000))
      const subject = i % 3 === 0 ? "bob" : "alice"
      const type = i % 2 === 0 ? "login.failed" : "login.succeeded"
      appended.push(await store.appendAudit(auditEvent({ subject, type, reason: `#${i}` })))
    }
    const newestFirst = [...appended].reverse()
    assert.deepEqual(await everything(store, { limit: 5 }), newestFirst)
    assert.deepEqual(await everything(store, { limit: 2 }), newestFirst, "ties of time are paged without loss")
    assert.deepEqual(
      await everything(store, { subject: "bob", limit: 2 }),
      newestFirst.filter((event) => event.subject === "bob"),
    )
    assert.deepEqual(
      await everything(store, { type: "login.failed", limit: 3 }),
      newestFirst.filter((event) => event.type === "login.failed"),
    )
    assert.deepEqual(
      await everything(store, { subject: "alice", type: "login.failed", limit: 1 }),
      newestFirst.filter((event) => event.subject === "alice" && event.type === "login.failed"),
    )
    assert.deepEqual(
      await everything(store, { since: start + 6000, until: start + 9000, limit: 2 }),
      newestFirst.filter((event) => event.at >= start + 6000 && event.at < start + 9000),
      "since is inclusive, until exclusive",
    )
    assert.deepEqual((await store.listAudit({ subject: "carol", limit: 5 })).items, [])
  })

  test("a cursor that no store made is refused as invalid_request", async () => {
    const store = await fresh()
    await assert.rejects(store.listAudit({ cursor: "not a cursor", limit: 5 }), { code: "invalid_request" })
  })

  test("purgeAudit deletes the events dated before the cut-off and nothing after it", async () => {
    const store = await fresh()
    for (let i = 0; i < 5; i++) {
      at(start + i * 1000)
      await store.appendAudit(auditEvent({ subject: i % 2 === 0 ? "bob" : "alice", type: i % 2 === 0 ? "logout" : "login.failed" }))
    }
    assert.equal(await store.purgeAudit(start + 3000), 3)
    const left = await everything(store, { limit: 10 })
    assert.deepEqual(left.map((event) => event.at), [start + 4000, start + 3000])
    assert.deepEqual(await everything(store, { subject: "bob", limit: 10 }), left.filter((event) => event.subject === "bob"))
    assert.deepEqual(await everything(store, { type: "login.failed", limit: 10 }), left.filter((event) => event.type === "login.failed"))
    assert.equal(await store.purgeAudit(start + 3000), 0)
  })

  test("concurrent appends each get their own id", async () => {
    const store = await fresh()
    const events = await Promise.all(Array.from({ length: 10 }, (_, i) => store.appendAudit(auditEvent({ reason: `#${i}` }))))
    assert.equal(new Set(events.map((event) => event.id)).size, 10)
    assert.equal((await everything(store, { limit: 4 })).length, 10)
  })

  test("redactAudit erases a person from the events about them and those they did, and nothing else", async () => {
    const store = await fresh()
    const who = { subject: "sub-alice", actor: "alice" }
    const erased = { ip: null, userAgent: null }
    // Each event, and what redaction changes in it.
    const cases: [AuditInput, Partial<AuditInput>][] = [
      [auditEvent({ subject: "sub-alice", actor: "alice" }), { ...erased, actor: "sub-alice" }],
      [
        auditEvent({ type: "login.failed", subject: "sub-alice", actor: null, details: '{"method":"password","username":"alice"}' }),
        { ...erased, details: '{"method":"password"}' },
      ],
      [
        auditEvent({ type: "password.reset", subject: "sub-alice", details: '{"method":"email","email":"alice@example.com","nested":{"username":"kept"}}' }),
        { ...erased, actor: "sub-alice", details: '{"method":"email","nested":{"username":"kept"}}' },
      ],
      [auditEvent({ type: "user.roles_changed", subject: "sub-bob", details: '{"before":[],"after":["admin"]}' }), { ...erased, actor: "sub-alice" }],
      [auditEvent({ type: "revocation.removed", subject: "sub-bob", actor: "sub-alice", details: '{"kind":"session"}' }), erased],
      [auditEvent({ type: "session.revoked", subject: "sub-alice", actor: "revocable", ip: null, userAgent: null, details: null }), {}],
      [auditEvent({ subject: "sub-alice", details: '["username","email"]' }), { ...erased, actor: "sub-alice" }],
      [auditEvent({ subject: "sub-alice", details: '"alice"' }), { ...erased, actor: "sub-alice" }],
      [auditEvent({ subject: "sub-alice", details: 'not JSON {"username":"alice"}' }), { ...erased, actor: "sub-alice" }],
      [auditEvent({ subject: "sub-bob", actor: "bob", details: '{"username":"bob","email":"bob@example.com"}' }), {}],
      [auditEvent({ type: "login.failed", subject: null, actor: null, details: '{"username":"alicia"}' }), {}],
    ]
    const appended: AuditEvent[] = []
    for (const [i, [input]] of cases.entries()) {
      // Pairs share a millisecond: their order of appending must survive too.
      at(start + Math.floor(i / 2) * 1000)
      appended.push(await store.appendAudit(input))
    }
    const aboutHer = await everything(store, { subject: "sub-alice", limit: 2 })

    assert.equal(await store.redactAudit(who), cases.filter(([, change]) => Object.keys(change).length > 0).length)
    const expected = appended.map((event, i) => ({ ...event, ...cases[i]?.[1] }))
    const after = (await everything(store, { limit: 3 })).reverse()
    assert.deepEqual(after.map(comparable), expected.map(comparable), "same ids, times, types and order; her data gone")
    const kept = (_: unknown, i: number) => cases[i]?.[1].details === undefined
    assert.deepEqual(after.filter(kept).map((event) => event.details), appended.filter(kept).map((event) => event.details), "other details kept as written")
    assert.deepEqual(
      (await everything(store, { subject: "sub-alice", limit: 2 })).map((event) => event.id),
      aboutHer.map((event) => event.id),
      "the subject's index unchanged",
    )

    assert.equal(await store.redactAudit(who), 0, "nothing left to erase")
    assert.deepEqual((await everything(store, { limit: 100 })).reverse(), after)
  })

  test("redactAudit reaches every event of a log longer than its batches", async () => {
    const store = await fresh()
    const events = 1100
    for (let i = 0; i < events; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          store.appendAudit((i + j) % 2 === 0 ? auditEvent({ subject: "sub-alice" }) : auditEvent({ subject: "sub-bob", actor: "bob" })),
        ),
      )
    }
    assert.equal(await store.redactAudit({ subject: "sub-alice", actor: "alice" }), events / 2)
    const all = await everything(store, { limit: 1000 })
    assert.equal(all.length, events)
    assert.ok(all.every((event) => (event.subject === "sub-alice" ? event.ip === null && event.actor === "sub-alice" : event.ip !== null && event.actor === "bob")))
  })
}
