// Tokens whose signature has been checked, and what the check found, so that a token presented again skips only
// its signature. Claims and revocation stay the caller's to check on every call. Web-standard only: createAuth
// and revocable/remote share it.
//
// Keyed by the whole token string: two different tokens are two different keys, so none can ever be answered
// with another's result. A truncated hash could be shared by two tokens; a full cryptographic one would cost
// microseconds at every call (fast-jwt's cache computes a SHA-512), where the map hashes a string in far less.

export interface VerifiedCacheLimits {
  /** The most tokens held. */
  entries: number
  /** The most bytes held, each entry counted as ENTRY_BYTES plus twice its token's length. */
  bytes: number
}

/**
 * An estimate of an entry's fixed cost (the map slot, the entry, its place in its key's set); the token's length
 * is counted twice, for the token string and for what was parsed from it.
 */
export const ENTRY_BYTES = 256

interface Entry<V> {
  readonly token: string
  readonly kid: string
  readonly value: V
  /** ms since the epoch: the token's exp. */
  readonly expiresAt: number
  readonly bytes: number
  /** Looked up since the eviction hand last passed: it is spared once (CLOCK, a cheap LRU). */
  used: boolean
}

export class VerifiedCache<V> {
  readonly #limits: VerifiedCacheLimits
  /** In insertion order, which the eviction hand walks from the oldest. */
  readonly #entries = new Map<string, Entry<V>>()
  /** The tokens of each key, so that retiring or replacing a key drops them all at once. */
  readonly #byKid = new Map<string, Set<Entry<V>>>()
  #bytes = 0

  constructor(limits: VerifiedCacheLimits) {
    this.#limits = { entries: limits.entries, bytes: limits.bytes }
  }

  get size(): number {
    return this.#entries.size
  }

  /** Bytes held, as counted against the limit. */
  get bytes(): number {
    return this.#bytes
  }

  /** What the token's check found, unless it is not held or its exp has come (`now` in ms). */
  get(token: string, now: number): V | undefined {
    const entry = this.#entries.get(token)
    if (entry === undefined) return undefined
    if (now >= entry.expiresAt) {
      this.#remove(entry)
      return undefined
    }
    entry.used = true
    return entry.value
  }

  /**
   * Remembers a token whose signature `kid`'s key verified, until `expiresAt` (its exp, in ms). A token already
   * past it, or larger than the whole byte budget, is not kept; others make room by evicting.
   */
  set(token: string, kid: string, value: V, expiresAt: number, now: number): void {
    const bytes = ENTRY_BYTES + 2 * token.length
    if (!(expiresAt > now) || bytes > this.#limits.bytes || this.#limits.entries < 1) return
    const existing = this.#entries.get(token)
    if (existing !== undefined) this.#remove(existing)
    while (this.#entries.size >= this.#limits.entries || this.#bytes + bytes > this.#limits.bytes) this.#evict(now)
    const entry: Entry<V> = { token, kid, value, expiresAt, bytes, used: false }
    this.#entries.set(token, entry)
    let tokens = this.#byKid.get(kid)
    if (tokens === undefined) {
      tokens = new Set()
      this.#byKid.set(kid, tokens)
    }
    tokens.add(entry)
    this.#bytes += bytes
  }

  /** Forgets every token of a key: it was retired, removed or replaced. */
  dropKey(kid: string): void {
    const tokens = this.#byKid.get(kid)
    if (tokens === undefined) return
    for (const entry of tokens) {
      this.#entries.delete(entry.token)
      this.#bytes -= entry.bytes
    }
    this.#byKid.delete(kid)
  }

  /** The kids of the keys that verified the tokens held. */
  kids(): IterableIterator<string> {
    return this.#byKid.keys()
  }

  clear(): void {
    this.#entries.clear()
    this.#byKid.clear()
    this.#bytes = 0
  }

  /**
   * Removes one entry: from the oldest on, an expired one, or the first not looked up since the hand last passed
   * it. A looked-up one is spared and moved to the back, so the walk ends within two passes.
   */
  #evict(now: number): void {
    for (const entry of this.#entries.values()) {
      if (entry.used && now < entry.expiresAt) {
        entry.used = false
        this.#entries.delete(entry.token)
        this.#entries.set(entry.token, entry)
        continue
      }
      this.#remove(entry)
      return
    }
  }

  #remove(entry: Entry<V>): void {
    this.#entries.delete(entry.token)
    this.#bytes -= entry.bytes
    const tokens = this.#byKid.get(entry.kid) as Set<Entry<V>>
    tokens.delete(entry)
    if (tokens.size === 0) this.#byKid.delete(entry.kid)
  }
}

/**
 * A payload held for tokens presented again. Every call must get an object of its own, as a fresh parse gives
 * it, or an application that changes its claims would change them for the next request: a payload of plain
 * values is copied (a spread, tens of ns), one holding objects or arrays is parsed again from its JSON text.
 */
export type HeldPayload = Readonly<Record<string, unknown>> | string

/** A copy of the payload to hold (the caller keeps its own); `json`, its text, is read only when it is not flat. */
export function holdPayload(payload: Record<string, unknown>, json: () => string): HeldPayload {
  for (const name in payload) {
    const value = payload[name]
    if (typeof value === "object" && value !== null) return json()
  }
  return { ...payload }
}

export function copyPayload(held: HeldPayload): Record<string, unknown> {
  return typeof held === "string" ? (JSON.parse(held) as Record<string, unknown>) : { ...held }
}

/** createAuth's and remoteVerifier's default bounds. */
const DEFAULT_LIMITS: VerifiedCacheLimits = { entries: 10_000, bytes: 16 * 2 ** 20 }

/** The `verifyCache` option, checked: its bounds with the defaults filled in, or null when it is `false`. */
export function verifiedCacheLimits(value: { entries?: number; bytes?: number } | false | undefined): VerifiedCacheLimits | null {
  if (value === false) return null
  if (value === undefined) return DEFAULT_LIMITS
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("Option verifyCache must be false or an object { entries, bytes }.")
  }
  const { entries = DEFAULT_LIMITS.entries, bytes = DEFAULT_LIMITS.bytes } = value
  if (!Number.isSafeInteger(entries) || entries < 1) throw new TypeError("Option verifyCache.entries must be a positive integer.")
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new TypeError("Option verifyCache.bytes must be a positive integer.")
  return { entries, bytes }
}
