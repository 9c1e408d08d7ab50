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
import type { Claims } from "./claims.ts"
import { closeContext, createContext, type Context } from "./instance.ts"
import { issue, refresh } from "./issue.ts"
import type { RotatedKey, RotateOptions } from "./keychain.ts"
import type { KeyInput, TokenType } from "./keys.ts"
import { listRevocations, listSessions } from "./lists.ts"
import type { AuthOptions } from "./options.ts"
import { logout, retireKey, revoke, revokeSession, revokeSubject, revokeToken, unrevoke } from "./revocation.ts"
import { verify } from "./verify.ts"
import type { Page, Revocation, RevocationKind, Session } from "./store.ts"

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
  /**
   * Makes a new signing key. Managed keys: generated and shared through the store, published at once and signing
   * once `keyActivationDelay` has passed, on every instance by itself; `{ now: true }` signs with it at once (an
   * emergency: verifiers holding a cached JWKS refuse its tokens until they refetch it). Static keys: pass the
   * key, which signs at once in this process.
   */
  rotateKey(keyOrOptions?: KeyInput | RotateOptions): Promise<RotatedKey>
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

/** A key has an `alg`; anything else is rotation options, checked here so that a typo is not a silent rotation. */
function rotateKey(ctx: Context, keyOrOptions: KeyInput | RotateOptions | undefined): Promise<RotatedKey> {
  if (keyOrOptions !== undefined && (keyOrOptions === null || typeof keyOrOptions !== "object")) {
    return Promise.reject(new TypeError("rotateKey takes a key ({ alg, ... }) for static keys, or { now: true } for managed ones."))
  }
  if (keyOrOptions === undefined || !("alg" in keyOrOptions)) {
    const options: RotateOptions = keyOrOptions ?? {}
    const unknown = Object.keys(options).filter((name) => name !== "now")
    if (unknown.length > 0 || (options.now !== undefined && typeof options.now !== "boolean")) {
      return Promise.reject(new TypeError("rotateKey takes a key ({ alg, ... }) for static keys, or { now: true } for managed ones."))
    }
    return ctx.lifecycle.run(() => ctx.keys.rotate(undefined, options))
  }
  return ctx.lifecycle.run(() => ctx.keys.rotate(keyOrOptions))
}

/**
 * A thin face over the instance's units (wired in instance.ts): replica sync (sync.ts), keys (keychain.ts), the
 * purge (housekeeping.ts), starting and closing (lifecycle.ts), and the token operations (issue.ts, verify.ts,
 * revocation.ts, lists.ts), which check their arguments, then wait for the start themselves.
 */
export function createAuth(options: AuthOptions): Auth {
  const ctx = createContext(options)
  return {
    ready: () => ctx.lifecycle.ready(),
    issue: (subject, options) => issue(ctx, subject, options),
    verify: (token, options) => verify(ctx, token, options),
    refresh: (refreshToken) => refresh(ctx, refreshToken),
    revoke: (token, meta) => revoke(ctx, token, meta),
    logout: (accessToken, options) => logout(ctx, accessToken, options),
    revokeToken: (jti, meta) => revokeToken(ctx, jti, meta),
    revokeSession: (sessionId, meta) => revokeSession(ctx, sessionId, meta),
    revokeSubject: (subject, meta) => revokeSubject(ctx, subject, meta),
    unrevoke: (kind, id) => unrevoke(ctx, kind, id),
    listSessions: (subject) => listSessions(ctx, subject),
    listRevocations: (query) => listRevocations(ctx, query),
    jwks: () => ctx.keys.jwks(),
    rotateKey: (keyOrOptions) => rotateKey(ctx, keyOrOptions),
    retireKey: (kid, meta) => retireKey(ctx, kid, meta),
    on: (event, listener) => ctx.events.on(event, listener),
    replicaStatus: () => ctx.sync.status(ctx.clock()),
    close: () => closeContext(ctx),
  }
}
