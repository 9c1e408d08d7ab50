// The keys this instance signs and verifies with: static ones from the options, or managed ones loaded from the
// store, kept in step with it, and rotated or retired through it.
import { generateStoredKey, importKey, importStoredKey, KeyRing, type Algorithm, type Key, type KeyInput } from "./keys.ts"
import type { Events } from "./events.ts"
import type { Replica } from "./replica.ts"
import type { Clock, Store } from "./store.ts"

type JsonWebKey = import("node:crypto").JsonWebKey

/**
 * Managed keys: tokens with an unknown kid reload the keys from the store at most once per this many ms. The
 * reload only bridges the moment before the feed brings a new key (milliseconds), so a tight limit costs
 * little, and made-up kids cannot send more than one read a second to the store.
 */
export const UNKNOWN_KID_RELOAD_MS = 1000

export interface KeychainOptions {
  store: Store
  /** The keys given in the options, or null when they are managed in the store. */
  staticKeys: Key[] | null
  /** The algorithm of managed keys. */
  algorithm: Algorithm
  clock: Clock
  /** Retired keys are never used to sign, nor listed in the JWKS. */
  replica: Replica
  events: Events
}

export class Keychain {
  readonly #store: Store
  readonly #managed: boolean
  readonly #algorithm: Algorithm
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

  constructor(options: KeychainOptions) {
    this.#store = options.store
    this.#managed = options.staticKeys === null
    this.#algorithm = options.algorithm
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

  /** The key new tokens are signed with: the newest that can sign and is not retired. */
  signer(): Key {
    const key = this.#ring.signer((kid) => this.#replica.isKeyRetired(kid))
    if (!key) throw new Error("No signing key is available: every key that can sign is retired.")
    return key
  }

  jwks(): { keys: JsonWebKey[] } {
    const keys: JsonWebKey[] = []
    for (const key of this.#ring.all()) if (key.publicJwk && !this.#replica.isKeyRetired(key.kid)) keys.push(key.publicJwk)
    return { keys }
  }

  async rotate(input?: KeyInput): Promise<{ kid: string }> {
    if (!this.#managed) {
      if (input === undefined) throw new TypeError("These keys are configured statically: pass the new key to rotateKey(key).")
      const key = importKey(input)
      this.#ring = new KeyRing([key, ...this.#ring.all().filter((existing) => existing.kid !== key.kid)])
      return { kid: key.kid }
    }
    if (input !== undefined) throw new TypeError("Keys are managed in the store: call rotateKey() without a key.")
    const events = this.#events
    // Newer than every key so far, even within one millisecond or behind another instance's clock.
    const newest = Math.max(0, ...(await events.fromStore(() => this.#store.listKeys())).map((key) => key.createdAt))
    const stored = generateStoredKey(this.#algorithm, Math.max(this.#clock(), newest + 1))
    await events.fromStore(() => this.#store.saveKey(stored))
    // Stryker disable next-line BooleanLiteral: the key just saved can sign, so there is never one to make
    await events.fromStore(() => this.#load(false))
    return { kid: stored.kid }
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

  async #apply(load: number, createIfNone: boolean): Promise<void> {
    const stored = await this.#store.listKeys()
    if (createIfNone && !stored.some((key) => key.retiredAt === null)) {
      // Instances starting together on an empty store may each save a key (no store can insert a key only if
      // there is none). They still converge: any two that hold the same keys sign with the same one (newest,
      // then lowest kid), and one that read the keys before another's save learns of it from the feed, or from
      // the first token it is shown (an unknown kid reloads). Meanwhile every saved key verifies everywhere.
      await this.#store.saveKey(generateStoredKey(this.#algorithm, this.#clock()))
      // A load begun after the save: no load begun before it, which may have missed the key, applies over it.
      // Stryker disable next-line BooleanLiteral: the key just saved can sign, so there is never one to make
      return this.#load(false)
    }
    if (load !== this.#loads) return this.#latestLoad
    // Stryker disable next-line EqualityOperator: kids are unique, and any fixed order of them has every instance pick the same key
    const newestFirst = stored.sort((a, b) => b.createdAt - a.createdAt || (a.kid < b.kid ? -1 : 1))
    this.#ring = new KeyRing(
      newestFirst.map((entry) => {
        const key = importStoredKey(entry)
        return entry.retiredAt === null ? key : { ...key, canSign: false }
      }),
    )
  }
}
