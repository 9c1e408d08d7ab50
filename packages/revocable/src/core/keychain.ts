// The keys this instance signs and verifies with: static ones from the options, or managed ones loaded from the
// store, kept in step with it, and rotated or retired through it. A managed key is published (JWKS) as soon as it
// is saved, and signs only from its activation time, so that verifiers caching the JWKS know it beforehand.
import { generateStoredKey, importKey, importStoredKey, KeyRing, type Algorithm, type Key, type KeyInput } from "./keys.ts"
import type { Events } from "./events.ts"
import type { Replica } from "./replica.ts"
import type { Clock, Store, StoredKey } from "./store.ts"

type JsonWebKey = import("node:crypto").JsonWebKey

/**
 * Managed keys: tokens with an unknown kid reload the keys from the store at most once per this many ms. The
 * reload only bridges the moment before the feed brings a new key (milliseconds), so a tight limit costs
 * little, and made-up kids cannot send more than one read a second to the store.
 */
export const UNKNOWN_KID_RELOAD_MS = 1000

/** The longest read of the store's clock whose answer still dates our clock's offset from it. */
export const STORE_CLOCK_READ_MS = 1000

export interface RotateOptions {
  /** Sign with the new key at once, before any cached JWKS has it (an emergency): verifiers must refetch it. */
  now?: boolean
}

export interface RotatedKey {
  kid: string
  /** When the key starts signing (ms since the epoch, by the store's clock). */
  activatesAt: number
}

export interface KeychainOptions {
  store: Store
  /** The keys given in the options, or null when they are managed in the store. */
  staticKeys: Key[] | null
  /** The algorithm of managed keys. */
  algorithm: Algorithm
  /** How long a rotated managed key is published before it signs. */
  activationDelayMs: number
  clock: Clock
  /** Retired keys are never used to sign, nor listed in the JWKS. */
  replica: Replica
  events: Events
}

export class Keychain {
  readonly #store: Store
  readonly #managed: boolean
  readonly #algorithm: Algorithm
  readonly #activationDelayMs: number
  readonly #clock: Clock
  readonly #replica: Replica
  readonly #events: Events
  #ring: KeyRing
  /**
   * Key loads can overlap (a feed event during a rotation): only the latest one started may apply, and an
   * earlier one resolves when that one has, so that no caller goes on with the ring not loaded yet.
   */
  #loads = 0
  #latestLoad: Promise<void> = Promise.resolve()
  /** The reload an unknown kid started, while it runs, and when the last one ended (see reloadForUnknownKid). */
  #kidReload: Promise<void> | undefined
  #kidReloadEnded = -Infinity
  /**
   * The store's clock minus ours, measured at each load of the keys: activation times are the store's, and adding
   * this to our clock compares them at sign time without asking the store.
   */
  #storeOffset = 0
  #storeOffsetRead = false

  constructor(options: KeychainOptions) {
    this.#store = options.store
    this.#managed = options.staticKeys === null
    this.#algorithm = options.algorithm
    this.#activationDelayMs = options.activationDelayMs
    this.#clock = options.clock
    this.#replica = options.replica
    this.#events = options.events
    this.#ring = new KeyRing(options.staticKeys ?? [])
  }

  get ring(): KeyRing {
    return this.#ring
  }

  /** Managed keys: loads them, making the first key when the store has none that can sign. */
  async start(): Promise<void> {
    if (this.#managed) await this.#load(true)
  }

  /** The feed says the keys changed: reload them, reporting a failure (nobody waits on it). */
  changed(): void {
    if (this.#managed) this.#load(false).catch((error: unknown) => this.#events.failed(error))
  }

  /**
   * Managed keys: a kid we do not hold may be a key another instance made moments ago, before the feed told us.
   * Reloads the keys once, shared by every verify waiting on it, and not again until UNKNOWN_KID_RELOAD_MS after
   * it ended, so that tokens with made-up kids cannot send every request to the store; undefined means: refuse
   * at once. A failed reload is reported and leaves the ring as it was: the token is refused as an unknown key.
   */
  reloadForUnknownKid(): Promise<void> | undefined {
    if (!this.#managed) return undefined
    if (this.#kidReload !== undefined) return this.#kidReload
    if (this.#clock() - this.#kidReloadEnded < UNKNOWN_KID_RELOAD_MS) return undefined
    const reload: Promise<void> = this.#load(false)
      .catch((error: unknown) => this.#events.failed(error))
      .finally(() => {
        this.#kidReloadEnded = this.#clock()
        this.#kidReload = undefined
      })
    this.#kidReload = reload
    return reload
  }

  /** The key new tokens are signed with: the newest that can sign, is not retired and is active. */
  signer(): Key {
    const key = this.#ring.signer((kid) => this.#replica.isKeyRetired(kid), this.#clock() + this.#storeOffset)
    if (!key) throw new Error("No signing key is available: every key that can sign is retired.")
    return key
  }

  /** Every key that verifies, newest first: a key waiting for its activation time is published already. */
  jwks(): { keys: JsonWebKey[] } {
    const keys: JsonWebKey[] = []
    for (const key of this.#ring.all()) if (key.publicJwk && !this.#replica.isKeyRetired(key.kid)) keys.push(key.publicJwk)
    return { keys }
  }

  /**
   * Managed keys: saves a new key that signs once the activation delay has passed (every instance switches to
   * it by itself then), or at once with `now`. Static keys: the key given signs at once, in this process.
   */
  async rotate(input?: KeyInput, options: RotateOptions = {}): Promise<RotatedKey> {
    if (!this.#managed) {
      if (input === undefined) throw new TypeError("These keys are configured statically: pass the new key to rotateKey(key).")
      const key = importKey(input)
      this.#ring = new KeyRing([key, ...this.#ring.all().filter((existing) => existing.kid !== key.kid)])
      return { kid: key.kid, activatesAt: this.#clock() }
    }
    if (input !== undefined) throw new TypeError("Keys are managed in the store: call rotateKey() without a key.")
    const events = this.#events
    const [now, stored] = await events.fromStore(() => Promise.all([this.#storeNow(), this.#store.listKeys()]))
    // Newer than every key so far, even within one millisecond or behind another instance's clock.
    const newest = Math.max(0, ...stored.map((key) => key.createdAt))
    const activatesAt = options.now === true ? now : now + this.#activationDelayMs
    const made = generateStoredKey(this.#algorithm, Math.max(now, newest + 1), activatesAt)
    await events.fromStore(() => this.#store.saveKey(made))
    // Stryker disable next-line BooleanLiteral: the key just saved can sign, so there is never one to make
    await events.fromStore(() => this.#load(false))
    return { kid: made.kid, activatesAt }
  }

  /** Whether a key has this kid; a managed key made on another instance may not have reached this one yet. */
  async has(kid: unknown): Promise<boolean> {
    if (this.#managed && typeof kid === "string" && !this.#ring.get(kid)) await this.#events.fromStore(() => this.#load(false))
    return typeof kid === "string" && this.#ring.get(kid) !== undefined
  }

  /** After the key's retirement is recorded: managed keys are marked retired in the store too, and reloaded. */
  async retired(kid: string, at: number): Promise<void> {
    if (!this.#managed) return
    await this.#events.fromStore(() => this.#store.retireKey(kid, at))
    await this.#events.fromStore(() => this.#load(true))
  }

  #load(createIfNone: boolean): Promise<void> {
    // Stryker disable next-line UpdateOperator: counting down tells the latest load apart just as well
    const load = ++this.#loads
    const loading = this.#apply(load, createIfNone)
    this.#latestLoad = loading
    return loading
  }

  /**
   * Reads the store's clock, and from it how far ours is behind (the middle of the read, ours, against its
   * answer). A read that took longer than STORE_CLOCK_READ_MS (a paused process, a slow store) says little about
   * the offset: the last good one stays.
   */
  async #storeNow(): Promise<number> {
    if (this.#store.now === undefined) return this.#clock()
    const sent = this.#clock()
    const now = await this.#store.now()
    const answered = this.#clock()
    if (answered - sent <= STORE_CLOCK_READ_MS || !this.#storeOffsetRead) this.#storeOffset = Math.round(now - (sent + answered) / 2)
    this.#storeOffsetRead = true
    return now
  }

  async #apply(load: number, createIfNone: boolean): Promise<void> {
    const stored = await this.#store.listKeys()
    const now = await this.#storeNow()
    // A key waiting for its activation does not sign yet: with no other, one that signs now is made (retiring the
    // key that signed is an emergency, and so is a start with nothing to sign with).
    if (createIfNone && !stored.some((key) => key.retiredAt === null && activationOf(key) <= now)) {
      // Instances starting together on an empty store may each save a key (no store can insert a key only if
      // there is none). They still converge: any two that hold the same keys sign with the same one (newest,
      // then lowest kid), and one that read the keys before another's save learns of it from the feed, or from
      // the first token it is shown (an unknown kid reloads). Meanwhile every saved key verifies everywhere.
      await this.#store.saveKey(generateStoredKey(this.#algorithm, now))
      // A load begun after the save: no load begun before it, which may have missed the key, applies over it.
      // Stryker disable next-line BooleanLiteral: the key just saved can sign, so there is never one to make
      return this.#load(false)
    }
    if (load !== this.#loads) return this.#latestLoad
    // Stryker disable next-line EqualityOperator: kids are unique, and any fixed order of them has every instance pick the same key
    const newestFirst = stored.sort((a, b) => b.createdAt - a.createdAt || (a.kid < b.kid ? -1 : 1))
    this.#ring = new KeyRing(
      newestFirst.map((entry) => {
        const key = { ...importStoredKey(entry), activatesAt: activationOf(entry) }
        return entry.retiredAt === null ? key : { ...key, canSign: false }
      }),
    )
  }
}

/** A key stored before activation times were kept (or by a store that drops them) signs since its creation. */
function activationOf(key: StoredKey): number {
  return key.activatesAt ?? key.createdAt
}
