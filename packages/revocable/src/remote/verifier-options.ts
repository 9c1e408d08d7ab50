// remoteVerifier's options and their checking: every one at construction, so that a mistake shows there and not at
// the first request.
import type { ClaimRules } from "../core/claims.ts"
import { parseDuration, type Duration } from "../core/duration.ts"
import type { AuthOptions } from "../core/options.ts"
import { verifiedCacheLimits, type VerifiedCacheLimits } from "../core/verified-cache.ts"
import type { FeedMode } from "./follow.ts"

export interface RemoteVerifierOptions {
  /** The server's issuer URL (its `iss` claim), from which `/.well-known/oauth-authorization-server` is read. */
  issuer: string
  clientId: string
  clientSecret: string
  /** The audiences accepted in `aud`. Default "api", the server's default. */
  audience?: string | string[]
  /** How long the verifier answers from its replica without contact with the feed. Default "5s". */
  maxStaleness?: Duration
  /** Past maxStaleness, accept tokens the replica does not know as revoked. Default false: `store_unavailable`. */
  failOpen?: boolean
  /**
   * "stream" (Server-Sent Events), "poll", "auto" (the stream, and polling where it cannot be held), or
   * "on-demand": no background work; a verify that finds the last contact older than pollInterval polls first
   * (for Cloudflare Workers, which allow no I/O between requests). Default "auto".
   */
  mode?: FeedMode
  /** Between polls (on demand: the longest a verify trusts the last poll without asking again). Default a third of maxStaleness, at most 1 s. */
  pollInterval?: Duration
  /** Clock skew tolerated on exp, iat and nbf. Default "30s", the server's default. */
  leeway?: Duration
  /** The longest `exp - iat` accepted. Default "1d". */
  maxTokenLifetime?: Duration
  /** At most one JWKS refetch for an unknown kid per this long. Default "30s". */
  jwksRefetchInterval?: Duration
  /**
   * Access tokens whose signature was verified, kept by the whole token string until their exp, so that a token
   * presented again skips its signature check (a WebCrypto Ed25519 verify costs tens of µs). Claims, expiry and
   * every revocation are still checked on every call. Bounded in tokens and in bytes (each counted as 256 plus
   * twice its length); the tokens of a key retired by the feed, or removed or changed in the JWKS, are dropped.
   * false: no cache. Default { entries: 10000, bytes: 16 MiB }, as createAuth's.
   */
  verifyCache?: AuthOptions["verifyCache"]
  /** Default: the global fetch. */
  fetch?: typeof fetch
  /** Reads the time in ms since the epoch. Default `Date.now()`. */
  clock?: () => number
}

export interface ResolvedRemoteOptions {
  issuer: string
  clientId: string
  clientSecret: string
  rules: ClaimRules
  maxStalenessMs: number
  failOpen: boolean
  mode: FeedMode
  pollIntervalMs: number
  jwksRefetchMs: number
  verifyCache: VerifiedCacheLimits | null
  fetch: typeof fetch
  clock: () => number
}

const MODES: readonly FeedMode[] = ["stream", "poll", "auto", "on-demand"]

/** The options with their defaults; throws a TypeError that names the first one that is wrong. */
export function resolveOptions(options: RemoteVerifierOptions): ResolvedRemoteOptions {
  if (!options || typeof options !== "object") throw new TypeError("remoteVerifier needs an options object.")
  const { issuer, clientId, clientSecret } = options
  if (typeof issuer !== "string" || !URL.canParse(issuer)) throw new TypeError("Option issuer must be the server's issuer URL.")
  if (typeof clientId !== "string" || clientId === "") throw new TypeError("Option clientId must be a non-empty string.")
  if (typeof clientSecret !== "string" || clientSecret === "") throw new TypeError("Option clientSecret must be a non-empty string.")
  const audiences = options.audience === undefined ? ["api"] : Array.isArray(options.audience) ? options.audience : [options.audience]
  if (audiences.length === 0 || !audiences.every((audience) => typeof audience === "string" && audience !== "")) {
    throw new TypeError("Option audience must be a non-empty string or array of them.")
  }
  const mode = options.mode ?? "auto"
  if (!MODES.includes(mode)) throw new TypeError(`Option mode must be one of ${MODES.join(", ")}.`)
  if (options.failOpen !== undefined && typeof options.failOpen !== "boolean") throw new TypeError("Option failOpen must be a boolean.")
  const maxStalenessMs = parseDuration(options.maxStaleness ?? "5s", "maxStaleness")
  if (maxStalenessMs === 0) throw new TypeError("Option maxStaleness must be more than 0: the feed cannot prove a replica current at every instant.")
  const pollIntervalMs = options.pollInterval === undefined ? Math.min(1000, Math.floor(maxStalenessMs / 3)) : parseDuration(options.pollInterval, "pollInterval")
  if (pollIntervalMs >= maxStalenessMs) throw new TypeError("Option pollInterval must be shorter than maxStaleness, or every poll would find the replica stale.")
  if (options.fetch !== undefined && typeof options.fetch !== "function") throw new TypeError("Option fetch must be a function.")
  if (options.clock !== undefined && typeof options.clock !== "function") throw new TypeError("Option clock must be a function.")
  return {
    issuer: issuer.replace(/\/+$/, ""),
    clientId,
    clientSecret,
    rules: {
      issuer: issuer.replace(/\/+$/, ""),
      audiences: new Set(audiences),
      leeway: parseDuration(options.leeway ?? "30s", "leeway") / 1000,
      maxLifetime: parseDuration(options.maxTokenLifetime ?? "1d", "maxTokenLifetime") / 1000,
    },
    maxStalenessMs,
    failOpen: options.failOpen === true,
    mode,
    pollIntervalMs,
    jwksRefetchMs: parseDuration(options.jwksRefetchInterval ?? "30s", "jwksRefetchInterval"),
    verifyCache: verifiedCacheLimits(options.verifyCache),
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    clock: options.clock ?? (() => Date.now()),
  }
}
