/**
 * An in-process store: nothing survives the process. For tests and single-process tools; it is also the
 * reference implementation of the store contract, which the other stores follow. Its clock is `Date.now`
 * unless `clock` is given (tests that control time).
 *
 * @example
 * import { createAuth } from "revocable"
 * import { memoryStore } from "revocable/stores/memory"
 * const auth = createAuth({ issuer, audience, store: memoryStore() })
 */
import { decodeCursor, decodeIdCursor, encodeCursor, hashEquals, mergeRevocation, replicaUntilOf, revocationKey, rowMatchesQuery } from "./shared.ts"
import type {
  ChangeEvent,
  Clock,
  ChangeListener,
  CreateSessionInput,
  CreateSessionResult,
  ListRevocationsQuery,
  Page,
  Revocation,
  RevocationInput,
  RevocationQuery,
  RotateInput,
  RotateResult,
  Session,
  Store,
  StoredKey,
  Subscription,
} from "../core/store.ts"
import type { ServerStore } from "./server-store.ts"
import { memoryAudit } from "./audit.ts"

interface SessionRow extends Session {
  currentHash: string
  previousHash: string | null
  rotatedAt: number
}

export interface MemoryStoreOptions {
  /** Reads the time for session times. Default `Date.now`. */
  clock?: Clock
}

export function memoryStore(options: MemoryStoreOptions = {}): ServerStore {
  const clock = options.clock ?? Date.now
  if (typeof clock !== "function") throw new TypeError("Option clock must be a function.")
  const revocations = new Map<string, Revocation & { seq: number }>()
  const generations = new Map<string, number>()
  const sessions = new Map<string, SessionRow>()
  const keys = new Map<string, StoredKey>()
  const listeners = new Set<ChangeListener>()
  const documents = new Map<string, Map<string, string>>()
  const windows = new Map<string, { count: number; resetAt: number }>()
  let seq = 0

  function collection(name: string): Map<string, string> {
    let entries = documents.get(name)
    if (!entries) documents.set(name, (entries = new Map()))
    return entries
  }

  function publish(event: ChangeEvent): void {
    for (const listener of listeners) listener(event)
  }

  function record(input: RevocationInput): Revocation {
    const key = revocationKey(input.kind, input.id)
    const existing = revocations.get(key)
    let cutoff = 0
    if (input.kind === "subject") {
      cutoff = (generations.get(input.id) ?? 0) + 1
      generations.set(input.id, cutoff)
    }
    if (input.kind === "session") {
      const session = sessions.get(input.id)
      if (session && session.revokedAt === null) session.revokedAt = input.createdAt
    }
    const merged = { ...mergeRevocation(existing, input, cutoff), seq: existing?.seq ?? ++seq }
    revocations.set(key, merged)
    const { seq: _, ...revocation } = merged
    publish({ type: "revoked", revocation })
    return revocation
  }

  /** Live as `listSessions` defines it. */
  function isLive(row: SessionRow, now: number, idleTimeoutMs: number): boolean {
    if (row.revokedAt !== null || row.expiresAt <= now || row.lastUsedAt <= now - idleTimeoutMs) return false
    return !isCutOff(row, now)
  }

  /** Whether a live subject revocation cuts off the session: its tokens are refused, its refreshes too. */
  function isCutOff(row: SessionRow, now: number): boolean {
    const cut = revocations.get(revocationKey("subject", row.subject))
    return cut !== undefined && cut.expiresAt > now && row.gen < cut.cutoff
  }

  function view(row: SessionRow): Session {
    const { currentHash: _c, previousHash: _p, rotatedAt: _r, ...session } = row
    return { ...session, claims: structuredClone(session.claims) }
  }

  return {
    name: "memory",
    heartbeatMs: 0,

    async open() {},
    async close() {
      listeners.clear()
    },

    async revoke(input) {
      return record(input)
    },

    async unrevoke(kind, id) {
      const existed = revocations.delete(revocationKey(kind, id))
      const session = kind === "session" ? sessions.get(id) : undefined
      if (session) session.revokedAt = null
      if (existed) publish({ type: "unrevoked", kind, id })
      return existed
    },

    async isRevoked(query: RevocationQuery) {
      for (const row of revocations.values()) {
        if (rowMatchesQuery(row, query)) return true
      }
      return false
    },

    async snapshot(now) {
      const live: Revocation[] = []
      for (const row of revocations.values()) {
        if (replicaUntilOf(row) <= now) continue
        const { seq: _, ...revocation } = row
        live.push(revocation)
      }
      return live
    },

    async listRevocations(query: ListRevocationsQuery): Promise<Page<Revocation>> {
      const before = decodeCursor(query.cursor)
      const rows = [...revocations.values()]
        .filter((row) => row.expiresAt > query.now)
        .filter((row) => query.kind === undefined || row.kind === query.kind)
        .filter((row) => query.subject === undefined || row.subject === query.subject)
        .filter((row) => before === null || row.seq < before)
        .sort((a, b) => b.seq - a.seq)
      const page = rows.slice(0, query.limit)
      const last = page.at(-1)
      return {
        items: page.map(({ seq: _, ...row }) => row),
        next: rows.length > query.limit && last ? encodeCursor(last.seq) : null,
      }
    },

    async createSession(input: CreateSessionInput): Promise<CreateSessionResult> {
      const { session, limit } = input
      const now = clock()
      const evicted: Revocation[] = []
      if (limit !== null) {
        const live = [...sessions.values()]
          .filter((row) => row.subject === session.subject && isLive(row, now, input.idleTimeoutMs))
          .sort((a, b) => a.createdAt - b.createdAt)
        const excess = live.length + 1 - limit
        if (excess > 0 && input.onExceed === "reject") return { ok: false, reason: "limit" }
        for (const row of live.slice(0, Math.max(0, excess))) {
          evicted.push(
            record({
              ...input.evictTemplate,
              id: row.sid,
              subject: row.subject,
              expiresAt: row.expiresAt + input.leewayMs,
            }),
          )
        }
      }
      const row: SessionRow = {
        sid: session.sid,
        subject: session.subject,
        gen: generations.get(session.subject) ?? 0,
        createdAt: now,
        lastUsedAt: now,
        expiresAt: now + session.ttlMs,
        device: session.device,
        claims: structuredClone(session.claims),
        revokedAt: null,
        currentHash: session.refreshHash,
        previousHash: null,
        rotatedAt: now,
      }
      sessions.set(row.sid, row)
      return { ok: true, session: view(row), evicted }
    },

    async getSession(sid) {
      const row = sessions.get(sid)
      return row ? view(row) : null
    },

    async listSessions(subject, idleTimeoutMs) {
      const now = clock()
      return [...sessions.values()]
        .filter((row) => row.subject === subject && isLive(row, now, idleTimeoutMs))
        .sort((a, b) => b.createdAt - a.createdAt)
        .map(view)
    },

    async rotate(input: RotateInput): Promise<RotateResult> {
      const row = sessions.get(input.sid)
      if (!row) return { status: "missing" }
      const now = clock()
      if (row.revokedAt !== null || isCutOff(row, now)) return { status: "revoked" }
      if (row.expiresAt <= now || row.lastUsedAt <= now - input.idleTimeoutMs) return { status: "expired" }
      if (hashEquals(row.currentHash, input.presentedHash)) {
        row.previousHash = row.currentHash
        row.currentHash = input.nextHash
        row.rotatedAt = now
        row.lastUsedAt = now
        return { status: "rotated", session: view(row) }
      }
      if (
        row.previousHash !== null &&
        hashEquals(row.previousHash, input.presentedHash) &&
        input.graceMs > 0 &&
        now >= row.rotatedAt &&
        now - row.rotatedAt < input.graceMs
      ) {
        row.currentHash = input.nextHash
        row.lastUsedAt = now
        return { status: "grace", session: view(row) }
      }
      return { status: "reused", revocation: record(input.reuseRevocation) }
    },

    async now() {
      return clock()
    },
    async listKeys() {
      return [...keys.values()].map((key) => ({ ...key }))
    },
    async saveKey(key) {
      keys.set(key.kid, { ...key })
      publish({ type: "keys" })
    },
    async retireKey(kid, at) {
      const key = keys.get(kid)
      if (key && key.retiredAt === null) key.retiredAt = at
      publish({ type: "keys" })
    },
    async deleteKey(kid) {
      keys.delete(kid)
      publish({ type: "keys" })
    },

    async subscribe(listener): Promise<Subscription> {
      listeners.add(listener)
      return {
        async close() {
          listeners.delete(listener)
        },
      }
    },

    async purge(now) {
      let removed = 0
      for (const [key, row] of revocations) {
        if (row.expiresAt <= now) {
          revocations.delete(key)
          removed++
        }
      }
      for (const [sid, row] of sessions) {
        if (row.expiresAt <= now) {
          sessions.delete(sid)
          removed++
        }
      }
      for (const [key, window] of windows) {
        if (window.resetAt <= now) {
          windows.delete(key)
          removed++
        }
      }
      return removed
    },

    async getDocument(name, id) {
      return collection(name).get(id) ?? null
    },
    async putDocument(name, id, json, expected) {
      const entries = collection(name)
      if (expected !== undefined && (entries.get(id) ?? null) !== expected) return false
      entries.set(id, json)
      return true
    },
    async deleteDocument(name, id) {
      return collection(name).delete(id)
    },
    async listDocuments(name, query) {
      const after = decodeIdCursor(query.cursor)
      const ids = [...collection(name).keys()].filter((id) => after === null || id > after).sort()
      const page = ids.slice(0, query.limit)
      const last = page.at(-1)
      return {
        items: page.map((id) => ({ id, json: collection(name).get(id) as string })),
        next: ids.length > query.limit && last !== undefined ? encodeCursor(last) : null,
      }
    },
    async hit(key, windowMs, now) {
      let window = windows.get(key)
      if (!window || window.resetAt <= now) windows.set(key, (window = { count: 0, resetAt: now + windowMs }))
      window.count++
      return { ...window }
    },
    ...memoryAudit(clock),
  }
}
