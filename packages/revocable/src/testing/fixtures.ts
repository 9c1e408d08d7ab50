// What the store conformance suite's groups share: the context storeConformance gives each, its inputs and clock.
import type { ChangeEvent, RevocationInput, SessionInput, Store } from "../core/store.ts"

export interface ConformanceContext<S extends Store = Store> {
  /** A fresh, empty, opened store whose clock starts at T0. */
  fresh(): Promise<S>
  /** Moves the store's clock. */
  at(ms: number): void
}

export const HOUR = 3_600_000
export const T0 = 1_800_000_000_000
const FEED_TIMEOUT_MS = 10_000

export function revocation(overrides: Partial<RevocationInput> = {}): RevocationInput {
  return { kind: "token", id: "jti-1", subject: "alice", reason: "test", actor: "tester", createdAt: T0, expiresAt: T0 + HOUR, ...overrides }
}

export function sessionInput(overrides: Partial<SessionInput> = {}): SessionInput {
  return {
    sid: `sid-${Math.random().toString(36).slice(2)}`,
    subject: "alice",
    ttlMs: 24 * HOUR,
    device: "Firefox on Linux",
    claims: { role: "admin", nested: { list: [1, "two"] } },
    refreshHash: "hash-0",
    ...overrides,
  }
}

const evictTemplate = { kind: "session" as const, reason: "evicted", actor: "revocable", createdAt: T0, replicaUntil: T0 + HOUR }

export function createInput(session: SessionInput, limit: number | null = null, onExceed: "evict-oldest" | "reject" = "reject") {
  return { session, idleTimeoutMs: 30 * 24 * HOUR, limit, onExceed, evictTemplate, leewayMs: 1000 }
}

export function rotateInput(sid: string, presentedHash: string, nextHash: string, graceMs = 0) {
  return {
    sid,
    presentedHash,
    nextHash,
    graceMs,
    idleTimeoutMs: 30 * 24 * HOUR,
    reuseRevocation: revocation({ kind: "session", id: sid, reason: "refresh token reused", actor: "revocable" }),
  }
}

/** An isRevoked query that matches nothing but what `overrides` names. */
export function query(overrides: Partial<{ jti: string; sid: string; subject: string; gen: number; kid: string; now: number }> = {}) {
  return { jti: "other-jti", sid: "other-sid", subject: "other", gen: 0, kid: "other-kid", now: T0, ...overrides }
}

/** Resolves with the first event the predicate accepts; rejects if none arrives in time. */
export function nextEvent(store: Store, predicate: (event: ChangeEvent) => boolean): Promise<ChangeEvent> & { ready: Promise<void> } {
  let resolveReady!: () => void
  const ready = new Promise<void>((resolve) => (resolveReady = resolve))
  const promise = new Promise<ChangeEvent>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("No matching change event arrived.")), FEED_TIMEOUT_MS)
    void store
      .subscribe((event) => {
        if (!predicate(event)) return
        clearTimeout(timer)
        resolve(event)
      })
      .then((subscription) => {
        resolveReady()
        void promise.finally(() => subscription.close())
      }, reject)
  })
  return Object.assign(promise, { ready })
}
