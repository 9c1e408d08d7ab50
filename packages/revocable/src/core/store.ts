import { AuthError } from "../errors.ts"

/**
 * The contract every revocable store fulfils: memory, SQLite, PostgreSQL and Redis alike.
 *
 * The store is the durable source of truth. A method that resolves has made its write durable; a method that
 * cannot reach its backend rejects (the core turns that into `store_unavailable`), and no method waits
 * without bound: a store that does not answer rejects within the store's timeout. Times are milliseconds
 * since the epoch.
 *
 * One clock. Session times that one instance writes and another compares (creation, last use, absolute and
 * idle expiry, the rotation grace) are read from the store's {@link Clock} inside the operation, never taken
 * from the caller, so instances whose clocks differ still agree. Revocation times (`createdAt`, `expiresAt`)
 * and the `now` of queries come from the caller: a revocation outlives what it revokes by the leeway, which
 * covers skew up to the leeway (see docs/guarantees.md). Every store passes the conformance suite in
 * `revocable/testing` (src/testing/conformance.ts) whole.
 *
 * @example
 * import type { Store } from "revocable"
 * const store: Store = sqliteStore({ path: "./data/revocable.db" })
 * await store.open()
 */

/** token: one `jti`; session: one `sid`; subject: every session of a `sub` created before the cut-off; key: one `kid`. */
export type RevocationKind = "token" | "session" | "subject" | "key"

/**
 * Reads the time, in ms since the epoch. A shared store reads its server's clock by default (Redis `TIME`,
 * PostgreSQL `clock_timestamp()`); every store takes one as its `clock` option for tests that control time.
 */
export type Clock = () => number

export const REVOCATION_KINDS: readonly RevocationKind[] = ["token", "session", "subject", "key"]

export interface RevocationInput {
  kind: RevocationKind
  id: string
  /** The subject the revoked thing belongs to, when known (always the id itself for `subject`). */
  subject: string | null
  reason: string | null
  actor: string | null
  createdAt: number
  /** When nothing this revocation can match is still valid: the store may forget it after that. */
  expiresAt: number
  /**
   * When replicas may let go of it (at or before `expiresAt`; `expiresAt` when absent): once every access
   * token a session or subject revocation could match has expired, only a refresh could still use the session,
   * and the store's rotation refuses that on its own record. {@link Store.snapshot} and the feed's live set
   * follow it; everything else (`isRevoked`, listings, `purge`) follows `expiresAt`.
   */
  replicaUntil?: number | undefined
}

export interface Revocation extends RevocationInput {
  /**
   * For `subject` only: the subject's generation at the moment of revocation. Tokens carry the generation of
   * their session (`gen`); a token whose `gen` is below the cut-off is revoked. 0 for other kinds.
   */
  cutoff: number
}

export interface SessionInput {
  sid: string
  subject: string
  /** The session's absolute lifetime: it is created at the store's now and expires `ttlMs` later. */
  ttlMs: number
  device: string | null
  /** The application's claims, copied into every access token of the session. */
  claims: Record<string, unknown>
  /** SHA-256 (base64url) of the first refresh token's `jti`. */
  refreshHash: string
}

export interface Session {
  sid: string
  subject: string
  /** The subject's generation when the session was created (see {@link Revocation.cutoff}). */
  gen: number
  createdAt: number
  lastUsedAt: number
  expiresAt: number
  device: string | null
  claims: Record<string, unknown>
  revokedAt: number | null
}

export interface CreateSessionInput {
  session: SessionInput
  /** A session unused for this long (by the store's clock) is idle, so it does not count (see `limit`). */
  idleTimeoutMs: number
  /**
   * At most this many live sessions per subject, the new one included; null for no limit. Live as
   * {@link Store.listSessions} defines it: a session that is revoked, ended, idle or cut off by a subject
   * revocation neither counts nor is evicted.
   */
  limit: number | null
  onExceed: "evict-oldest" | "reject"
  /**
   * How to record an eviction: the store revokes each evicted session with a copy of this template whose
   * `id` and `subject` it fills in and whose `expiresAt` is the evicted session's own `expiresAt` plus leeway
   * (`leewayMs`).
   */
  evictTemplate: Omit<RevocationInput, "id" | "subject" | "expiresAt">
  leewayMs: number
}

export type CreateSessionResult =
  | { ok: true; session: Session; evicted: Revocation[] }
  | { ok: false; reason: "limit" }

export interface RotateInput {
  sid: string
  /** Hash of the presented refresh token's `jti`. */
  presentedHash: string
  /** Hash of the `jti` of the refresh token about to be issued. */
  nextHash: string
  /**
   * The predecessor of the current refresh token is tolerated for this long after the rotation that replaced it,
   * by the store's clock; 0 tolerates nothing, ever.
   */
  graceMs: number
  /** A session unused for this long (by the store's clock) is over (idle expiry). */
  idleTimeoutMs: number
  /** Written, atomically with marking the session revoked, when the presented token was already rotated away. */
  reuseRevocation: RevocationInput
}

export type RotateResult =
  /** The presented token was the current one: it is now the previous one, and `nextHash` is current. */
  | { status: "rotated"; session: Session }
  /** The presented token was the immediate predecessor, within the grace window: `nextHash` replaced current. */
  | { status: "grace"; session: Session }
  /** The presented token was neither: the session is revoked, and `revocation` was recorded and published. */
  | { status: "reused"; revocation: Revocation }
  | { status: "revoked" | "expired" | "missing" }

/** A signing key as kept in the store, for applications that let revocable manage their keys. */
export interface StoredKey {
  kid: string
  alg: string
  /** The private (or secret) key as a JWK, JSON-encoded. */
  privateJwk: string
  createdAt: number
  /**
   * When the key starts signing, by the store's clock ({@link Store.now}); until then it is published (JWKS) and
   * verifies, so that verifiers caching the JWKS know it before the first token it signs. A key stored before
   * this field existed reads as `createdAt`.
   */
  activatesAt: number
  retiredAt: number | null
}

export interface ListRevocationsQuery {
  subject?: string | undefined
  kind?: RevocationKind | undefined
  /** Opaque: the `next` of the previous page. */
  cursor?: string | null | undefined
  limit: number
  /** Only entries whose `expiresAt` is after this time. */
  now: number
}

export interface Page<T> {
  items: T[]
  next: string | null
}

/** What one verify asks of the store when the local replica is too stale to answer. */
export interface RevocationQuery {
  jti: string
  sid: string
  subject: string
  gen: number
  kid: string
  now: number
}

/**
 * A change, delivered to every subscriber of every instance, in the order the store committed them.
 * `sync` says: every change committed before `at` has been delivered (a heartbeat). `at` is `Date.now()` when
 * the read that proved it was sent (or later, where the store's answer proves a later moment), never when
 * the answer was processed: a process paused between the two must not count itself fresh.
 * `reset` says: changes may have been missed (a reconnect); reload the snapshot.
 */
export type ChangeEvent =
  | { type: "revoked"; revocation: Revocation }
  | { type: "unrevoked"; kind: RevocationKind; id: string }
  | { type: "keys" }
  | { type: "sync"; at: number }
  | { type: "reset" }

export type ChangeListener = (event: ChangeEvent) => void

export interface Subscription {
  close(): Promise<void>
}

export interface Store {
  /** A short name for logs and metrics: "memory", "sqlite", "postgres", "redis". */
  readonly name: string
  /**
   * How long the feed may be silent before the replica counts as stale, or 0 when the feed is synchronous
   * (every change reaches every subscriber before the write resolves, so the replica is never stale).
   */
  readonly heartbeatMs: number

  /** Connects and creates or migrates the schema. Idempotent. */
  open(): Promise<void>
  close(): Promise<void>

  /**
   * Records a revocation and publishes it. Idempotent: revoking what is already revoked keeps the earliest
   * `createdAt` and the latest `expiresAt` and `replicaUntil` (a `replicaUntil` is kept at or before its
   * `expiresAt`; absent, it is `expiresAt`). For `subject` it increments the subject's generation and sets the
   * cut-off to the new generation (so a second call also revokes sessions created since the first). For
   * `session` it also marks the session revoked.
   */
  revoke(input: RevocationInput): Promise<Revocation>
  /**
   * Removes a revocation and publishes that; for `session` the session is no longer marked revoked, so its
   * refresh token works again. Resolves false when there was no revocation.
   */
  unrevoke(kind: RevocationKind, id: string): Promise<boolean>
  /** Whether the token described is revoked, read from the store itself. */
  isRevoked(query: RevocationQuery): Promise<boolean>
  /** Every revocation whose `replicaUntil` is after `now`: what a replica must hold. */
  snapshot(now: number): Promise<Revocation[]>
  /**
   * Optional: the same snapshot handed to `page` in pages as it is read, for a replica to load each page while the
   * store reads the next, without holding every revocation as an object at once. Resolves once all are handed over.
   * A store that reads again after a lost connection hands the pages over again: a revocation may come twice, which
   * a replica takes as once.
   */
  readSnapshot?(now: number, page: (revocations: Revocation[]) => void): Promise<void>
  /** Revocations, newest first, paged with an opaque cursor. */
  listRevocations(query: ListRevocationsQuery): Promise<Page<Revocation>>

  /**
   * Creates a session atomically with the session-limit check and any eviction. Only the subject's sessions
   * live at the new session's creation (see {@link Store.listSessions}) count towards `limit`, and only they
   * are evicted, oldest first.
   */
  createSession(input: CreateSessionInput): Promise<CreateSessionResult>
  getSession(sid: string): Promise<Session | null>
  /**
   * The subject's live sessions, newest first. A session is live when it is not revoked (`revokedAt` null), not
   * past `expiresAt`, used within the last `idleTimeoutMs`, and not cut off by a subject revocation: one of kind
   * `subject` for its subject whose `expiresAt` is after now and whose `cutoff` is above the session's `gen`
   * (exactly when `isRevoked` refuses the session's tokens); now is the store's clock throughout. Unrevoking the subject makes those sessions live again.
   */
  listSessions(subject: string, idleTimeoutMs: number): Promise<Session[]>
  /**
   * Compare-and-set of the session's refresh hash; see {@link RotateResult}. Atomic across every instance. A
   * session that is revoked, or cut off by a subject revocation (as {@link Store.listSessions} defines it, at
   * the store's now), answers `revoked` from the store's own records: no replica is asked.
   */
  rotate(input: RotateInput): Promise<RotateResult>

  /**
   * The store's clock (the `clock` option, else its server's: Redis `TIME`, PostgreSQL `clock_timestamp()`,
   * SQLite's reading of the machine's clock). Key activation times are read from it, so that instances whose
   * clocks differ switch signing keys together. Optional: without it, instances use their own clocks.
   */
  now?(): Promise<number>

  listKeys(): Promise<StoredKey[]>
  /** Adds (or replaces, by kid) a key, `activatesAt` included, and publishes a `keys` change. */
  saveKey(key: StoredKey): Promise<void>
  /** Marks a key retired and publishes a `keys` change. */
  retireKey(kid: string, at: number): Promise<void>
  /** Deletes a retired key for good (once every token it signed has expired). */
  deleteKey(kid: string): Promise<void>

  /**
   * Starts delivering changes. Resolves once the subscription is live, so that a snapshot read after it
   * misses nothing.
   */
  subscribe(listener: ChangeListener): Promise<Subscription>
  /**
   * Deletes revocations and sessions that ended before `now` (and, in a ServerStore, rate-limit windows that ended).
   * Resolves the number removed.
   */
  purge(now: number): Promise<number>
}

/**
 * Whether every store keeps this text as given. PostgreSQL refuses NUL (U+0000) in text (SQLSTATE 22021), and an
 * unpaired surrogate has no UTF-8 form (PostgreSQL and SQLite would keep U+FFFD, another id). The core and the
 * server refuse such text before any store sees it, so that every store agrees.
 */
export function isStorable(text: string): boolean {
  return !UNSTORABLE.test(text)
}

const UNSTORABLE = /[\0\p{Cs}]/u

/** Throws invalid_request when `text` is not storable (see isStorable); `what` names it in the message. */
export function checkStorable(text: string, what: string): void {
  if (!isStorable(text)) throw new AuthError("invalid_request", `${what} must not contain NUL (U+0000) or an unpaired surrogate.`)
}

/** The snapshot handed to `page` page by page where the store can (readSnapshot), else whole as one page. */
export async function readSnapshot(store: Pick<Store, "snapshot" | "readSnapshot">, now: number, page: (revocations: Revocation[]) => void): Promise<void> {
  if (store.readSnapshot === undefined) page(await store.snapshot(now))
  else await store.readSnapshot(now, page)
}

/** Runs a store operation; a failure of the backend becomes `store_unavailable` (an AuthError passes as is). */
export async function storeOperation<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation()
  } catch (cause) {
    if (cause instanceof AuthError) throw cause
    throw new AuthError("store_unavailable", undefined, { cause })
  }
}
