/**
 * revocable/remote: verify the tokens of a revocable server in a service that holds no store credentials.
 *
 * Given the issuer and the service's client credentials (a client registered with the scope
 * `revocations:read`), the verifier discovers the server's keys and revocation feed, keeps its own replica of the
 * live revocations, and answers `verify` as `createAuth` does: the same claims, the same `AuthError` codes, so the
 * Express, Fastify and Hono adapters take it as they take an `Auth`. Past `maxStaleness` without contact with the
 * feed it fails closed with `store_unavailable`. Web-standard APIs only (fetch, WebCrypto, streams): it runs on
 * Node, Bun, Deno and Cloudflare Workers (where `mode: "on-demand"` keeps one verifier across requests). See
 * docs/remote.md.
 *
 * @example
 * import { remoteVerifier } from "revocable/remote"
 * import { authenticate } from "revocable/express"
 * const verifier = remoteVerifier({ issuer: "https://auth.example", clientId, clientSecret, audience: "api" })
 * await verifier.ready
 * app.use(authenticate(verifier))
 */
import { AuthError } from "../errors.ts"
import { checkClaims, type Claims } from "../core/claims.ts"
import type { VerifyOptions } from "../core/auth.ts"
import type { RevocationKind } from "../core/store.ts"
import { copyPayload, holdPayload, VerifiedCache, type HeldPayload } from "../core/verified-cache.ts"
import { discover, FeedToken, RemoteError } from "./credentials.ts"
import { emitter } from "./emitter.ts"
import { Follower } from "./follow.ts"
import { decodeToken, payloadJson, verifyDecoded, type DecodedToken } from "./jws.ts"
import { KeySet, type RemoteKey } from "./jwks.ts"
import { RemoteReplica, type FeedEntry } from "./replica.ts"
import { resolveOptions, type RemoteVerifierOptions } from "./verifier-options.ts"

export { RemoteError } from "./credentials.ts"
export type { FeedChange, FeedEntry } from "./replica.ts"
export type { FeedMode } from "./follow.ts"
export type { RemoteVerifierOptions } from "./verifier-options.ts"

export interface RemoteVerifierStatus {
  /** Whether verify answers from the replica (contact within maxStaleness). */
  fresh: boolean
  /** When the feed last proved the replica current (ms since the epoch), or null before the first snapshot. */
  lastContact: number | null
  mode: "stream" | "poll" | "on-demand"
  /** The revocations held. */
  size: number
  /** The last failure talking to the server, until the next success. */
  error: Error | null
}

export interface RemoteVerifierEvents {
  /** A revocation arrived through the feed's changes. */
  revoked: [entry: FeedEntry]
  unrevoked: [change: { kind: RevocationKind; id: string }]
  /** A snapshot replaced the replica (at start, after a reconnection the server could not resume). */
  snapshot: [info: { size: number }]
  /** maxStaleness passed without contact: verify now fails closed (or open, by option). */
  stale: []
  /** Contact again after being stale. */
  fresh: []
  /** A request to the server failed; the verifier retries with backoff. */
  error: [error: Error]
  /** A verify answered past maxStaleness: refused, or accepted from the replica when `failOpen`. */
  "store-unavailable": [info: { error: unknown; failOpen: boolean }]
}

export interface RemoteVerifier {
  /** The claims of a valid, unrevoked access token; rejects with an AuthError as `createAuth().verify` does. */
  verify<C extends object = Record<string, unknown>>(token: unknown, options?: VerifyOptions): Promise<Claims & C>
  /**
   * Resolves once the keys and a first snapshot are loaded; rejects if the server refuses the credentials. On
   * demand, reading it starts the verifier (one attempt, which rejects if it fails); the first verify does too.
   */
  readonly ready: Promise<void>
  status(): RemoteVerifierStatus
  on<E extends keyof RemoteVerifierEvents>(event: E, listener: (...args: RemoteVerifierEvents[E]) => void): () => void
  /** Stops following the feed. */
  close(): Promise<void>
}

export function remoteVerifier(options: RemoteVerifierOptions): RemoteVerifier {
  const config = resolveOptions(options)
  const { emit, on } = emitter<RemoteVerifierEvents>()

  const closing = new AbortController()
  const onDemand = config.mode === "on-demand"
  const verifiedTokens = config.verifyCache === null ? null : new VerifiedCache<{ key: RemoteKey; payload: HeldPayload }>(config.verifyCache)
  let keys: KeySet | undefined
  let follower: Follower | undefined
  let lastError: Error | null = null
  let stale = true
  let staleTimer: ReturnType<typeof setTimeout> | undefined
  let readyResolve: () => void = () => {}
  let readyReject: (error: unknown) => void = () => {}
  const ready = new Promise<void>((resolve, reject) => {
    readyResolve = resolve
    readyReject = reject
  })
  // Awaiting ready is the caller's choice: an unobserved rejection must not crash the process.
  ready.catch(() => {})

  const replicaListener = {
    // Stale, and now in contact again from our own cursor (no snapshot): say so, and watch for the next lapse.
    contact: () => {
      if (stale) contact()
    },
    snapshot: (size: number) => {
      contact()
      readyResolve()
      emit("snapshot", { size })
    },
    revoked: (entry: FeedEntry) => emit("revoked", entry),
    unrevoked: (change: { kind: RevocationKind; id: string }) => emit("unrevoked", change),
  }
  let replica: RemoteReplica | undefined

  function isFresh(now: number): boolean {
    return replica !== undefined && now - replica.lastContact <= config.maxStalenessMs
  }

  /** Re-arms the timer that announces staleness, after each contact (on demand, verify announces it: no timer). */
  function contact(): void {
    lastError = null
    if (replica === undefined) return
    if (stale && isFresh(config.clock())) {
      stale = false
      emit("fresh")
    }
    if (onDemand) return
    clearTimeout(staleTimer)
    const remaining = replica.lastContact + config.maxStalenessMs - config.clock()
    staleTimer = setTimeout(() => {
      if (isFresh(config.clock())) return contact()
      stale = true
      emit("stale")
    }, Math.max(0, remaining) + 1)
  }

  /** Discovery, keys, then the feed followed; each step retried until it works, or (on demand) tried once. */
  async function start(): Promise<void> {
    const endpoints = await retrying(() => discover(config.issuer, config.fetch, closing.signal))
    if (endpoints === undefined) return
    const keySet = new KeySet({
      jwksUri: endpoints.jwksUri,
      fetch: config.fetch,
      refetchIntervalMs: config.jwksRefetchMs,
      now: config.clock,
      onKeyGone: (kid) => verifiedTokens?.dropKey(kid),
    })
    if ((await retrying(() => keySet.load().then(() => keySet))) === undefined) return
    keys = keySet
    replica = new RemoteReplica(keys, replicaListener)
    const token = new FeedToken({ endpoint: endpoints.tokenEndpoint, clientId: config.clientId, clientSecret: config.clientSecret, fetch: config.fetch, now: config.clock })
    follower = new Follower({
      endpoints,
      token,
      replica,
      fetch: config.fetch,
      mode: config.mode,
      pollIntervalMs: config.pollIntervalMs,
      maxStalenessMs: config.maxStalenessMs,
      now: config.clock,
      onError: failed,
      onConnected: () => {
        if (replica!.lastContact > -Infinity) contact()
      },
    })
    if (onDemand) await follower.pollNow()
  }

  function failed(error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error))
    lastError = failure
    emit("error", failure)
    // The server said no to who we are: waiting will not fix it, so the start says so at once.
    if (failure instanceof RemoteError && (failure.status === 401 || failure.status === 403 || failure.status === 400)) readyReject(failure)
  }

  /** Runs a start step until it works (with backoff) or the verifier closes; undefined when closed. On demand, once. */
  async function retrying<T>(step: () => Promise<T>): Promise<T | undefined> {
    if (onDemand) return step()
    for (let failures = 0; !closing.signal.aborted; failures++) {
      try {
        return await step()
      } catch (error) {
        if (closing.signal.aborted) return undefined
        failed(error)
        await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 250 * 2 ** Math.min(failures, 6))))
      }
    }
    return undefined
  }

  // On demand, nothing runs at construction (a Worker allows no I/O in its global scope): the first verify starts.
  const started = onDemand ? undefined : start()
  /** The on-demand start or poll under way, shared by concurrent verifies; when the last one was begun. */
  let refreshing: Promise<void> | undefined
  let lastAttemptAt = -Infinity

  /** On demand: starts, or polls, unless the last contact or attempt is more recent than pollInterval. */
  function refreshOnDemand(): Promise<void> {
    const now = config.clock()
    if (now - Math.max(replica?.lastContact ?? -Infinity, lastAttemptAt) < config.pollIntervalMs) return refreshing ?? Promise.resolve()
    refreshing ??= (async () => {
      lastAttemptAt = now
      try {
        await (follower === undefined ? start() : follower.pollNow())
      } catch (error) {
        // Not fatal here: verify answers from the replica within maxStaleness, and fails closed past it.
        if (!closing.signal.aborted) failed(error)
      }
    })().finally(() => {
      refreshing = undefined
    })
    return refreshing
  }

  async function readyOnDemand(): Promise<void> {
    await refreshOnDemand()
    if (replica === undefined || replica.lastContact === -Infinity) throw lastError ?? unavailable("The remote verifier has not loaded the server's keys and revocations yet.")
  }

  async function verify<C extends object>(token: unknown, verifyOptions?: VerifyOptions): Promise<Claims & C> {
    if (verifyOptions?.type === "refresh") {
      throw new AuthError("invalid_request", "A remote verifier checks access tokens only: refresh tokens are for the authorization server.")
    }
    // A token verified before skips its decoding and signature check; every check after them still runs.
    const held = typeof token === "string" ? verifiedTokens?.get(token, config.clock()) : undefined
    const decoded = held === undefined ? decodeToken(token) : undefined
    if (onDemand) await refreshOnDemand()
    if (keys === undefined || replica === undefined) throw unavailable("The remote verifier has not loaded the server's keys and revocations yet.", lastError)
    // Still the key that verified it: a refresh above may have retired or replaced it meanwhile.
    const { kid, payload } = held !== undefined && keys.get(held.key.kid) === held.key ? { kid: held.key.kid, payload: copyPayload(held.payload) } : await signed(keys, decoded ?? decodeToken(token), token as string)
    const now = config.clock()
    const claims = checkClaims(payload, config.rules, now / 1000) as Claims & C
    if (!isFresh(now)) {
      if (onDemand && !stale) {
        stale = true
        emit("stale")
      }
      const error = unavailable(`The remote verifier has had no contact with the revocation feed for more than ${config.maxStalenessMs} ms (maxStaleness).`, lastError)
      emit("store-unavailable", { error, failOpen: config.failOpen })
      if (!config.failOpen) throw error
    }
    if (keys.isRetired(kid) || replica.revocations.isRevoked(claims.jti, claims.sid, claims.sub, claims.gen, kid)) {
      throw new AuthError("token_revoked")
    }
    return claims
  }

  /** The key and signature checks of a token not in the cache (core/verified-cache.ts), which then holds it. */
  async function signed(keys: KeySet, decoded: DecodedToken, token: string): Promise<{ kid: string; payload: Record<string, unknown> }> {
    if (keys.isRetired(decoded.kid)) throw new AuthError("token_revoked")
    const key = await keyFor(keys, decoded.kid)
    const payload = await verifyDecoded(decoded, key)
    if (decoded.type !== "access") throw new AuthError("wrong_token_type", "Expected an access token.")
    // Not if the key was retired or replaced while WebCrypto verified: its tokens have just been dropped.
    if (verifiedTokens !== null && typeof payload.exp === "number" && keys.get(decoded.kid) === key) {
      verifiedTokens.set(token, decoded.kid, { key, payload: holdPayload(payload, () => payloadJson(decoded)) }, payload.exp * 1000, config.clock())
    }
    return { kid: decoded.kid, payload }
  }

  return {
    verify: (token, verifyOptions) => verify(token, verifyOptions),
    get ready() {
      return onDemand ? readyOnDemand() : ready
    },
    status: () => ({
      fresh: isFresh(config.clock()),
      lastContact: replica === undefined || replica.lastContact === -Infinity ? null : replica.lastContact,
      mode: follower?.mode ?? (config.mode === "auto" ? "stream" : config.mode),
      size: replica?.revocations.size ?? 0,
      error: lastError,
    }),
    on,
    async close() {
      closing.abort()
      clearTimeout(staleTimer)
      readyReject(new RemoteError("The remote verifier was closed before it was ready."))
      await started
      await refreshing
      await follower?.close()
    },
  }
}

/** The token's key; an unknown kid refetches the JWKS (shared, rate-limited) and is looked up once more. */
async function keyFor(keys: KeySet, kid: string): Promise<RemoteKey> {
  let key = keys.get(kid)
  if (key === undefined) {
    const reload = keys.reloadForUnknownKid(kid)
    if (reload !== undefined) await reload.catch(() => undefined)
    key = keys.get(kid)
  }
  if (key === undefined) throw new AuthError("token_invalid", "The token was signed with an unknown key.")
  return key
}

function unavailable(message: string, cause?: unknown): AuthError {
  return new AuthError("store_unavailable", message, cause === undefined || cause === null ? undefined : { cause })
}
