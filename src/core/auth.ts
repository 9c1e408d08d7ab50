/**
 * `createAuth`: issue, verify, refresh and revoke tokens against one store.
 *
 * @example
 * import { createAuth } from "revocable"
 * import { sqliteStore } from "revocable/stores/sqlite"
 *
 * const auth = createAuth({ issuer: "https://auth.example", audience: "api", store: sqliteStore({ path: "auth.db" }) })
 * await auth.ready()
 * const pair = await auth.issue("user-42", { claims: { role: "admin" }, device: "Firefox on Linux" })
 * const claims = await auth.verify(pair.accessToken)      // { sub: "user-42", role: "admin", ... }
 * await auth.logout(pair.accessToken)                      // the session's tokens are now refused everywhere
 */
import { EventEmitter } from "node:events"
import { AuthError } from "../errors.ts"
import { checkClaims, RESERVED_CLAIMS, type ClaimRules, type Claims } from "./claims.ts"
import { randomId, refreshHash } from "./ids.ts"
import { generateStoredKey, importKey, importStoredKey, KeyRing, type Key, type KeyInput, type TokenType } from "./keys.ts"
import { resolveOptions, type AuthOptions } from "./options.ts"
import { Replica } from "./replica.ts"
import { isUnknownKey, signToken, verifySignature, type VerifiedToken } from "./tokens.ts"
import {
  REVOCATION_KINDS,
  type ChangeEvent,
  type Page,
  type Revocation,
  type RevocationInput,
  type RevocationKind,
  type Session,
  type Subscription,
} from "../stores/contract.ts"
import { checkStorable } from "../stores/shared.ts"

export interface TokenPair {
  accessToken: string
  refreshToken: string
  tokenType: "Bearer"
  /** Seconds until the access token expires. */
  expiresIn: number
  /** Seconds until the refresh token expires. */
  refreshExpiresIn: number
  sessionId: string
}

export interface IssueOptions {
  /** The application's claims, carried by every access token of the session. Reserved names are refused. */
  claims?: Record<string, unknown>
  /** A label for the session list ("Firefox on Linux"). */
  device?: string
}

export interface VerifyOptions {
  /** Which kind of token is expected. Default "access". */
  type?: TokenType
}

/** Who revoked, and why: kept with the revocation record. */
export interface RevokeMeta {
  reason?: string
  actor?: string
}

export interface AuthEvents {
  revoked: [Revocation]
  unrevoked: [{ kind: RevocationKind; id: string }]
  "reuse-detected": [{ sessionId: string; subject: string }]
  /** A store operation failed; `failOpen` is true when a verify was answered from the stale replica regardless. */
  "store-unavailable": [{ error: unknown; failOpen: boolean }]
}

export interface Auth {
  /** Opens the store, loads keys and the replica. Other methods call it themselves; call it to fail early. */
  ready(): Promise<void>
  issue(subject: string, options?: IssueOptions): Promise<TokenPair>
  verify<C extends object = Record<string, unknown>>(token: unknown, options?: VerifyOptions): Promise<Claims & C>
  /** Rotates: the presented refresh token is spent, and a new pair is returned. */
  refresh(refreshToken: unknown): Promise<TokenPair>
  /**
   * Revokes what a token stands for: an access token its own jti, a refresh token its whole session.
   * Resolves null, revoking nothing, for a token that is not ours or has expired (RFC 7009 §2.2).
   */
  revoke(token: unknown, meta?: RevokeMeta): Promise<Revocation | null>
  /** Revokes the access token's session, or with `everywhere` every token of its subject. */
  logout(accessToken: unknown, options?: { everywhere?: boolean }): Promise<Revocation>
  /** Revokes one token by its jti alone, when the token itself is not at hand (an admin pasting a jti). */
  revokeToken(jti: string, meta?: RevokeMeta & { subject?: string }): Promise<Revocation>
  revokeSession(sessionId: string, meta?: RevokeMeta): Promise<Revocation>
  /** Revokes every token of the subject issued before this call returns; tokens issued after stay valid. */
  revokeSubject(subject: string, meta?: RevokeMeta): Promise<Revocation>
  /** Takes a revocation back; resolves whether there was one. A retired key cannot be restored (invalid_request). */
  unrevoke(kind: RevocationKind, id: string): Promise<boolean>
  listSessions(subject: string): Promise<Session[]>
  listRevocations(query?: { subject?: string; kind?: RevocationKind; cursor?: string | null; limit?: number }): Promise<Page<Revocation>>
  /** The public keys, as a JWKS document (shared secrets are never listed). */
  jwks(): { keys: JsonWebKey[] }
  /** Makes a new signing key current. Managed keys: generated and shared through the store; static keys: pass one. */
  rotateKey(key?: KeyInput): Promise<{ kid: string }>
  /** Every token the key signed is refused from now on, on every instance. */
  retireKey(kid: string, meta?: RevokeMeta): Promise<Revocation>
  on<E extends keyof AuthEvents>(event: E, listener: (...args: AuthEvents[E]) => void): () => void
  /** The local replica, for readiness checks and metrics. */
  replicaStatus(): ReplicaStatus
  /** Stops timers and the change feed, and closes the store. */
  close(): Promise<void>
}

export interface ReplicaStatus {
  /** Live revocations held. */
  entries: number
  /** Whether verify answers from the replica alone (else it asks the store). */
  fresh: boolean
  /** Since the feed last proved the replica current; 0 for a synchronous feed. */
  stalenessMs: number
  /** Times the feed reconnected and the replica reloaded its snapshot. */
  resets: number
}

type JsonWebKey = import("node:crypto").JsonWebKey

const MAX_SUBJECT_LENGTH = 1024
const MAX_META_LENGTH = 1024
const MAX_PAGE = 1000
/** The end of 2999: key retirements do not expire. */
const KEY_RETIREMENT_MS = Date.UTC(2999, 11, 31)
/**
 * Managed keys: tokens with an unknown kid reload the keys from the store at most once per this many ms. The
 * reload only bridges the moment before the feed brings a new key (milliseconds), so a tight limit costs
 * little, and made-up kids cannot send more than one read a second to the store.
 */
const UNKNOWN_KID_RELOAD_MS = 1000

export function createAuth(options: AuthOptions): Auth {
  const config = resolveOptions(options)
  const { store, leewayMs } = config
  const events = new EventEmitter()
  const replica = new Replica()
  const rules: Record<TokenType, ClaimRules> = {
    access: rule(config.accessTtlMs),
    refresh: rule(config.refreshTtlMs),
  }
  /**
   * How long a revocation outlives the last token it matches: the leeway that token is still accepted for, and
   * the leeway again, so that an instance whose clock is up to the leeway behind the store's (or the purging
   * instance's) still finds the revocation while it accepts the token.
   */
  const retentionMs = 2 * leewayMs
  /** Nothing a token can match outlives this, counted from now: its session's absolute end, plus retention. */
  const longestLifeMs = Math.max(config.sessionTtlMs, config.refreshTtlMs, config.accessTtlMs) + retentionMs

  let ring = new KeyRing(config.staticKeys ?? [])
  let starting: Promise<void> | undefined
  let started = false
  let closed = false
  let subscription: Subscription | undefined
  let syncedAt = 0
  /** Changes that arrive while a snapshot loads wait here, then replay on top of it. */
  let pending: ChangeEvent[] | null = null
  let resyncing: Promise<void> | undefined
  /** Resets announced by the feed, and how many of them a loaded snapshot covers: stale until they match. */
  let resets = 0
  let resetsLoaded = 0
  let purgeTimer: NodeJS.Timeout | undefined

  function rule(maxLifetimeMs: number): ClaimRules {
    return { issuer: config.issuer, audiences: config.audiences, leeway: leewayMs / 1000, maxLifetime: maxLifetimeMs / 1000 }
  }

  function ready(): Promise<void> {
    if (closed) return Promise.reject(new Error("This auth instance is closed."))
    starting ??= start().catch((cause: unknown) => {
      starting = undefined
      throw unavailable(cause)
    })
    return starting
  }

  async function start(): Promise<void> {
    await store.open()
    subscription = await store.subscribe(onChange)
    await resync()
    if (config.staticKeys === null) await loadKeys(true)
    if (config.purgeIntervalMs !== null) {
      purgeTimer = setInterval(() => void purge(), config.purgeIntervalMs)
      purgeTimer.unref()
    }
    started = true
  }

  function onChange(event: ChangeEvent): void {
    if (event.type === "reset") {
      resets++
      void resyncSoon()
      // The changes missed may include keys: reload them as a `keys` change would.
      apply({ type: "keys" })
    } else if (pending !== null) {
      pending.push(event)
    } else {
      apply(event)
    }
  }

  function apply(event: ChangeEvent): void {
    switch (event.type) {
      case "revoked":
        replica.add(event.revocation)
        emit("revoked", event.revocation)
        break
      case "unrevoked":
        replica.delete(event.kind, event.id)
        emit("unrevoked", { kind: event.kind, id: event.id })
        break
      case "keys":
        if (config.staticKeys === null) loadKeys(false).catch((error: unknown) => emit("store-unavailable", { error, failOpen: false }))
        break
      case "sync":
        // A heartbeat after a reset proves the feed is back, not that the missed changes are loaded.
        if (resetsLoaded === resets) syncedAt = Math.max(syncedAt, event.at)
        else if (resyncing === undefined) void resyncSoon()
        break
    }
  }

  async function resync(): Promise<void> {
    const readAt = Date.now()
    const covers = resets
    pending = []
    try {
      replica.load(await store.snapshot(readAt))
      resetsLoaded = Math.max(resetsLoaded, covers)
      for (const event of pending) apply(event)
      syncedAt = readAt
    } finally {
      pending = null
    }
  }

  /** After a reconnect: reload the snapshot, once at a time, again if another reset came meanwhile. */
  function resyncSoon(): Promise<void> {
    const previous = resyncing ?? Promise.resolve()
    const next: Promise<void> = previous
      .then(resync)
      .catch((error: unknown) => emit("store-unavailable", { error, failOpen: false }))
      .finally(() => {
        if (resyncing === next) resyncing = undefined
      })
    resyncing = next
    return next
  }

  /**
   * Key loads can overlap (a feed event during a rotation): only the latest one started may apply, and an
   * earlier one resolves when that one has, so that no caller goes on with the ring not loaded yet.
   */
  let keyLoads = 0
  let latestKeyLoad: Promise<void> = Promise.resolve()
  /** The reload an unknown kid started, while it runs, and when the last one ended (see reloadKeysForUnknownKid). */
  let kidReload: Promise<void> | undefined
  let kidReloadEnded = -Infinity

  function loadKeys(createIfNone: boolean): Promise<void> {
    const load = ++keyLoads
    const loading = applyKeys(load, createIfNone)
    latestKeyLoad = loading
    return loading
  }

  async function applyKeys(load: number, createIfNone: boolean): Promise<void> {
    const stored = await store.listKeys()
    if (createIfNone && !stored.some((key) => key.retiredAt === null)) {
      // Instances starting together on an empty store may each save a key (no store can insert a key only if
      // there is none). They still converge: any two that hold the same keys sign with the same one (newest,
      // then lowest kid), and one that read the keys before another's save learns of it from the feed, or from
      // the first token it is shown (an unknown kid reloads). Meanwhile every saved key verifies everywhere.
      await store.saveKey(generateStoredKey(config.algorithm, Date.now()))
      // A load begun after the save: no load begun before it, which may have missed the key, applies over it.
      return loadKeys(false)
    }
    if (load !== keyLoads) return latestKeyLoad
    const newestFirst = stored.sort((a, b) => b.createdAt - a.createdAt || (a.kid < b.kid ? -1 : 1))
    ring = new KeyRing(
      newestFirst.map((entry) => {
        const key = importStoredKey(entry)
        return entry.retiredAt === null ? key : { ...key, canSign: false }
      }),
    )
  }

  async function purge(): Promise<void> {
    const now = Date.now()
    replica.prune(now)
    try {
      await store.purge(now)
      if (config.staticKeys === null) {
        for (const key of await store.listKeys()) {
          if (key.retiredAt !== null && key.retiredAt + longestLifeMs < now) await store.deleteKey(key.kid)
        }
      }
    } catch (error) {
      emit("store-unavailable", { error, failOpen: false })
    }
  }

  function emit<E extends keyof AuthEvents>(event: E, ...args: AuthEvents[E]): void {
    try {
      events.emit(event, ...args)
    } catch (error) {
      // A listener's bug must not break verify or the feed; report it where Node reports stray errors.
      process.emitWarning(error instanceof Error ? error : String(error), { code: "REVOCABLE_LISTENER" })
    }
  }

  function unavailable(cause: unknown): AuthError {
    if (cause instanceof AuthError) return cause
    emit("store-unavailable", { error: cause, failOpen: false })
    return new AuthError("store_unavailable", undefined, { cause })
  }

  async function fromStore<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (cause) {
      throw unavailable(cause)
    }
  }

  function signer(): Key {
    const key = ring.signer((kid) => replica.isKeyRetired(kid))
    if (!key) throw new Error("No signing key is available: every key that can sign is retired.")
    return key
  }

  // Not async: with a fresh replica a verify settles without a single await, the hot path's one promise.
  function verify<C extends object>(token: unknown, options?: VerifyOptions): Promise<Claims & C> {
    if (!started) return ready().then(() => verify<C>(token, options))
    try {
      const expected = options?.type ?? "access"
      const { key, type, payload } = verifySignature(token, ring)
      if (type !== expected) throw new AuthError("wrong_token_type", `Expected ${expected === "access" ? "an access" : "a refresh"} token.`)
      const now = Date.now()
      const claims = checkClaims(payload, rules[type], now / 1000) as Claims & C
      if (!isFresh(now)) return isRevokedInStore(claims, key.kid, now).then((revoked) => (revoked ? Promise.reject(new AuthError("token_revoked")) : claims))
      if (replica.isRevoked(claims.jti, claims.sid, claims.sub, claims.gen, key.kid)) throw new AuthError("token_revoked")
      return Promise.resolve(claims)
    } catch (error) {
      // Retried once: the interval counts from the end of the reload, so the retry cannot start another.
      const reload = isUnknownKey(error) ? reloadKeysForUnknownKid() : undefined
      return reload ? reload.then(() => verify<C>(token, options)) : Promise.reject(error)
    }
  }

  /**
   * Managed keys: a kid we do not hold may be a key another instance made moments ago, before the feed told us.
   * Reloads the keys once, shared by every verify waiting on it, and not again until UNKNOWN_KID_RELOAD_MS after
   * it ended, so that tokens with made-up kids cannot send every request to the store; undefined means: refuse
   * at once. A failed reload is reported and leaves the ring as it was: the token is refused as an unknown key.
   */
  function reloadKeysForUnknownKid(): Promise<void> | undefined {
    if (config.staticKeys !== null) return undefined
    if (kidReload !== undefined) return kidReload
    if (Date.now() - kidReloadEnded < UNKNOWN_KID_RELOAD_MS) return undefined
    const reload: Promise<void> = loadKeys(false)
      .catch((error: unknown) => emit("store-unavailable", { error, failOpen: false }))
      .finally(() => {
        kidReloadEnded = Date.now()
        kidReload = undefined
      })
    kidReload = reload
    return reload
  }

  function isFresh(now: number): boolean {
    return resetsLoaded === resets && (store.heartbeatMs === 0 || now - syncedAt <= config.maxStalenessMs)
  }

  function replicaStatus(): ReplicaStatus {
    const now = Date.now()
    return {
      entries: replica.size,
      fresh: isFresh(now),
      stalenessMs: store.heartbeatMs === 0 ? 0 : Math.max(0, now - syncedAt),
      resets,
    }
  }

  async function isRevokedInStore(claims: Claims, kid: string, now: number): Promise<boolean> {
    try {
      return await store.isRevoked({ jti: claims.jti, sid: claims.sid, subject: claims.sub, gen: claims.gen, kid, now })
    } catch (error) {
      emit("store-unavailable", { error, failOpen: config.failOpen })
      if (!config.failOpen) throw new AuthError("store_unavailable", undefined, { cause: error })
      return replica.isRevoked(claims.jti, claims.sid, claims.sub, claims.gen, kid)
    }
  }

  function mint(session: Session, refreshJti: string, now: number): TokenPair {
    const key = signer()
    const iat = Math.floor(now / 1000)
    const sessionEnd = Math.floor(session.expiresAt / 1000)
    const accessExp = Math.min(iat + config.accessTtlMs / 1000, sessionEnd)
    const refreshExp = Math.min(iat + config.refreshTtlMs / 1000, sessionEnd)
    const common = { iss: config.issuer, sub: session.subject, aud: config.audience, iat }
    const ids = { sid: session.sid, gen: session.gen }
    return {
      accessToken: signToken(key, "access", { ...session.claims, ...common, exp: accessExp, jti: randomId(), ...ids }),
      refreshToken: signToken(key, "refresh", { ...common, exp: refreshExp, jti: refreshJti, ...ids }),
      tokenType: "Bearer",
      expiresIn: accessExp - iat,
      refreshExpiresIn: refreshExp - iat,
      sessionId: session.sid,
    }
  }

  async function issue(subject: string, options: IssueOptions = {}): Promise<TokenPair> {
    checkId(subject, "subject")
    const claims = checkAppClaims(options.claims ?? {})
    const device = options.device ?? null
    if (device !== null) checkText(device, "device")
    if (!started) await ready()
    const now = Date.now()
    const refreshJti = randomId()
    signer()
    const result = await fromStore(() =>
      store.createSession({
        session: { sid: randomId(), subject, ttlMs: config.sessionTtlMs, device, claims, refreshHash: refreshHash(refreshJti) },
        idleTimeoutMs: config.idleTimeoutMs,
        limit: config.maxSessions?.limit ?? null,
        onExceed: config.maxSessions?.onExceed ?? "reject",
        evictTemplate: { kind: "session", reason: "session limit: evicted oldest", actor: "revocable", createdAt: now },
        leewayMs: retentionMs,
      }),
    )
    if (!result.ok) throw new AuthError("session_limit_reached")
    for (const revocation of result.evicted) replica.add(revocation)
    return mint(result.session, refreshJti, now)
  }

  async function refresh(refreshToken: unknown): Promise<TokenPair> {
    const claims = await verify(refreshToken, { type: "refresh" })
    const now = Date.now()
    const nextJti = randomId()
    const result = await fromStore(() =>
      store.rotate({
        sid: claims.sid,
        presentedHash: refreshHash(claims.jti),
        nextHash: refreshHash(nextJti),
        graceMs: config.reuseGraceMs,
        idleTimeoutMs: config.idleTimeoutMs,
        reuseRevocation: {
          kind: "session",
          id: claims.sid,
          subject: claims.sub,
          reason: "refresh token reused",
          actor: "revocable",
          createdAt: now,
          expiresAt: now + longestLifeMs,
        },
      }),
    )
    switch (result.status) {
      case "rotated":
      case "grace":
        return mint(result.session, nextJti, now)
      case "reused":
        replica.add(result.revocation)
        emit("reuse-detected", { sessionId: claims.sid, subject: claims.sub })
        throw new AuthError("refresh_token_reused")
      case "expired":
        throw new AuthError("token_expired", "The session has expired.")
      case "revoked":
      case "missing":
        throw new AuthError("token_revoked", "The session has ended.")
    }
  }

  async function record(input: Omit<RevocationInput, "createdAt" | "reason" | "actor">, meta: RevokeMeta): Promise<Revocation> {
    const reason = meta.reason ?? null
    const actor = meta.actor ?? null
    if (reason !== null) checkText(reason, "reason")
    if (actor !== null) checkText(actor, "actor")
    if (!started) await ready()
    const revocation = await fromStore(() => store.revoke({ ...input, reason, actor, createdAt: Date.now() }))
    replica.add(revocation)
    return revocation
  }

  /** verifySignature, retried once after the reload an unknown kid may start (see reloadKeysForUnknownKid). */
  async function verifySignatureOrReload(token: unknown): Promise<VerifiedToken> {
    try {
      return verifySignature(token, ring)
    } catch (error) {
      const reload = isUnknownKey(error) ? reloadKeysForUnknownKid() : undefined
      if (reload === undefined) throw error
      await reload
      return verifySignature(token, ring)
    }
  }

  async function revoke(token: unknown, meta: RevokeMeta = {}): Promise<Revocation | null> {
    if (!started) await ready()
    let verified
    try {
      verified = await verifySignatureOrReload(token)
      checkClaims(verified.payload, rules[verified.type], Date.now() / 1000)
    } catch (error) {
      if (error instanceof AuthError) return null
      throw error
    }
    const claims = verified.payload as Claims
    if (verified.type === "refresh") return revokeSession(claims.sid, meta)
    return record({ kind: "token", id: claims.jti, subject: claims.sub, expiresAt: claims.exp * 1000 + retentionMs }, meta)
  }

  async function revokeToken(jti: string, meta: RevokeMeta & { subject?: string } = {}): Promise<Revocation> {
    checkId(jti, "jti")
    if (meta.subject !== undefined) checkId(meta.subject, "subject")
    // Its expiry is unknown: the entry lives as long as any token of ours can.
    const expiresAt = Date.now() + Math.max(config.accessTtlMs, config.refreshTtlMs) + retentionMs
    return record({ kind: "token", id: jti, subject: meta.subject ?? null, expiresAt }, meta)
  }

  async function revokeSession(sessionId: string, meta: RevokeMeta = {}): Promise<Revocation> {
    checkId(sessionId, "session id")
    if (!started) await ready()
    const session = await fromStore(() => store.getSession(sessionId))
    const expiresAt = session ? session.expiresAt + retentionMs : Date.now() + longestLifeMs
    return record({ kind: "session", id: sessionId, subject: session?.subject ?? null, expiresAt }, meta)
  }

  async function revokeSubject(subject: string, meta: RevokeMeta = {}): Promise<Revocation> {
    checkId(subject, "subject")
    return record({ kind: "subject", id: subject, subject, expiresAt: Date.now() + longestLifeMs }, meta)
  }

  async function logout(accessToken: unknown, options: { everywhere?: boolean } = {}): Promise<Revocation> {
    const claims = await verify(accessToken)
    const meta = { actor: claims.sub, reason: options.everywhere ? "logout everywhere" : "logout" }
    return options.everywhere ? revokeSubject(claims.sub, meta) : revokeSession(claims.sid, meta)
  }

  async function unrevoke(kind: RevocationKind, id: string): Promise<boolean> {
    checkKind(kind)
    checkId(id, "id")
    // Retiring is permanent: a managed key also stays marked retired in the store, and the tokens it signed
    // may have leaked.
    if (kind === "key") throw new AuthError("invalid_request", "A retired key cannot be restored: rotate a new key instead.")
    if (!started) await ready()
    const existed = await fromStore(() => store.unrevoke(kind, id))
    replica.delete(kind, id)
    return existed
  }

  async function listSessions(subject: string): Promise<Session[]> {
    checkId(subject, "subject")
    if (!started) await ready()
    return fromStore(() => store.listSessions(subject, config.idleTimeoutMs))
  }

  async function listRevocations(query: { subject?: string; kind?: RevocationKind; cursor?: string | null; limit?: number } = {}) {
    if (query.kind !== undefined) checkKind(query.kind)
    if (query.subject !== undefined) checkId(query.subject, "subject")
    const limit = query.limit ?? 50
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw new AuthError("invalid_request", `limit must be an integer from 1 to ${MAX_PAGE}.`)
    }
    if (!started) await ready()
    return fromStore(() => store.listRevocations({ subject: query.subject, kind: query.kind, cursor: query.cursor, limit, now: Date.now() }))
  }

  function jwks(): { keys: JsonWebKey[] } {
    const keys: JsonWebKey[] = []
    for (const key of ring.all()) if (key.publicJwk && !replica.isKeyRetired(key.kid)) keys.push(key.publicJwk)
    return { keys }
  }

  async function rotateKey(input?: KeyInput): Promise<{ kid: string }> {
    if (!started) await ready()
    if (config.staticKeys !== null) {
      if (input === undefined) throw new TypeError("These keys are configured statically: pass the new key to rotateKey(key).")
      const key = importKey(input)
      ring = new KeyRing([key, ...ring.all().filter((existing) => existing.kid !== key.kid)])
      return { kid: key.kid }
    }
    if (input !== undefined) throw new TypeError("Keys are managed in the store: call rotateKey() without a key.")
    // Newer than every key so far, even within one millisecond or behind another instance's clock.
    const newest = Math.max(0, ...(await fromStore(() => store.listKeys())).map((key) => key.createdAt))
    const stored = generateStoredKey(config.algorithm, Math.max(Date.now(), newest + 1))
    await fromStore(() => store.saveKey(stored))
    await fromStore(() => loadKeys(false))
    return { kid: stored.kid }
  }

  async function retireKey(kid: string, meta: RevokeMeta = {}): Promise<Revocation> {
    if (!started) await ready()
    // A managed key made on another instance may not have reached this one yet.
    if (config.staticKeys === null && typeof kid === "string" && !ring.get(kid)) await fromStore(() => loadKeys(false))
    if (typeof kid !== "string" || !ring.get(kid)) throw new AuthError("invalid_request", "No key has that kid.")
    // A retired key stays retired, even while a static key is still listed in the configuration; unrevoke refuses it.
    const revocation = await record({ kind: "key", id: kid, subject: null, expiresAt: KEY_RETIREMENT_MS }, meta)
    if (config.staticKeys === null) {
      await fromStore(() => store.retireKey(kid, revocation.createdAt))
      await fromStore(() => loadKeys(true))
    }
    return revocation
  }

  function on<E extends keyof AuthEvents>(event: E, listener: (...args: AuthEvents[E]) => void): () => void {
    events.on(event, listener as (...args: unknown[]) => void)
    return () => events.off(event, listener as (...args: unknown[]) => void)
  }

  async function close(): Promise<void> {
    if (closed) return
    closed = true
    clearInterval(purgeTimer)
    await starting?.catch(() => undefined)
    await resyncing
    await subscription?.close()
    await store.close()
  }

  return {
    ready,
    issue,
    verify,
    refresh,
    revoke,
    logout,
    revokeToken,
    revokeSession,
    revokeSubject,
    unrevoke,
    listSessions,
    listRevocations,
    jwks,
    rotateKey,
    retireKey,
    on,
    replicaStatus,
    close,
  }
}

function checkId(value: unknown, what: string): asserts value is string {
  if (typeof value !== "string" || value === "" || value.length > MAX_SUBJECT_LENGTH) {
    throw new AuthError("invalid_request", `The ${what} must be a non-empty string of at most ${MAX_SUBJECT_LENGTH} characters.`)
  }
  checkStorable(value, `The ${what}`)
}

function checkText(value: unknown, what: string): void {
  if (typeof value !== "string" || value.length > MAX_META_LENGTH) {
    throw new AuthError("invalid_request", `The ${what} must be a string of at most ${MAX_META_LENGTH} characters.`)
  }
  checkStorable(value, `The ${what}`)
}

function checkKind(kind: unknown): asserts kind is RevocationKind {
  if (!REVOCATION_KINDS.includes(kind as RevocationKind)) {
    throw new AuthError("invalid_request", `The kind must be one of ${REVOCATION_KINDS.join(", ")}.`)
  }
}

function checkAppClaims(claims: unknown): Record<string, unknown> {
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
    throw new AuthError("invalid_request", "claims must be a plain object.")
  }
  const reserved = Object.keys(claims).filter((name) => RESERVED_CLAIMS.has(name))
  if (reserved.length > 0) throw new AuthError("invalid_request", `claims may not set ${reserved.join(", ")}: revocable sets them.`)
  let copy: unknown
  try {
    copy = JSON.parse(JSON.stringify(claims))
  } catch {
    throw new AuthError("invalid_request", "claims must be JSON-serializable.")
  }
  return copy as Record<string, unknown>
}
