// The store as the server and the CLI use it: managed signing keys are wrapped (keywrap.ts) on their way into the
// store and unwrapped on their way out, so the store only ever holds them wrapped while the core, which makes and
// rotates them through saveKey and loads them through listKeys, sees plain JWKs.
import { randomBytes } from "node:crypto"
import { existsSync } from "node:fs"
import type { ServerStore, StoredKey } from "revocable/stores"
import { keyEncryptionKeyFile, prepareDataFiles, type StartWarning } from "./datadir.ts"
import { isWrapped, keyEncryptionKey, MAKE_A_KEK, unwrapKey, wrapKey, wrappedUnder, type KeyEncryptionKey } from "./keywrap.ts"
import { rewrapSecrets } from "./secrets.ts"
// Not through webhooks/index.ts, whose worker needs storeNow from here.
import { rewrapWebhookSecrets } from "./webhooks/endpoint-secrets.ts"

export interface KeyProtection {
  /** Newest first: the first wraps, every one unwraps. Empty: keys stay in plaintext. */
  keks: KeyEncryptionKey[]
  /** The SQLite database file, compacted once plaintext keys are wrapped; null for other stores. */
  database: string | null
  warnings: StartWarning[]
}

/** Why PostgreSQL and Redis need a KEK, and how to make one. */
export const KEK_REQUIRED =
  "REVOCABLE_KEY_ENCRYPTION_KEY is not set. On PostgreSQL and Redis the signing keys are kept in the store wrapped " +
  `under a key-encryption key that the store never holds: make one with \`${MAKE_A_KEK}\` and give every instance ` +
  "the same in REVOCABLE_KEY_ENCRYPTION_KEY (or in a file named by REVOCABLE_KEY_ENCRYPTION_KEY_FILE); or set " +
  "REVOCABLE_INSECURE_PLAINTEXT_KEYS=true to keep them in plaintext, readable by anyone who can read the store."

/**
 * Before the store opens: on SQLite, the data files made private and the KEK, configured or kept in its own file
 * beside the database (made on first start); on PostgreSQL and Redis, the configured KEKs, or none when
 * REVOCABLE_INSECURE_PLAINTEXT_KEYS allowed it (loadConfig refuses the start otherwise).
 */
export function prepareKeyProtection(configured: KeyEncryptionKey[] | null, database: string | null): KeyProtection {
  if (database === null) {
    const warnings =
      configured === null ? [{ code: "REVOCABLE_PLAINTEXT_KEYS", message: "Signing keys are stored in plaintext (REVOCABLE_INSECURE_PLAINTEXT_KEYS): whoever reads the store can sign tokens." }] : []
    return { keks: configured ?? [], database: null, warnings }
  }
  // The keys of an in-memory database die with the process, and so may their KEK.
  if (database === ":memory:") return { keks: configured ?? [keyEncryptionKey(randomBytes(32))], database: null, warnings: [] }
  const warnings = prepareDataFiles(database)
  const file = `${database}.kek`
  if (configured === null) return { keks: [keyEncryptionKeyFile(file, warnings)], database, warnings }
  // A generated KEK still opens what it wrapped, until `keys rewrap` has moved every key under the configured one.
  const generated = existsSync(file) ? keyEncryptionKeyFile(file, warnings) : null
  const keks = generated === null || configured.some((kek) => kek.id === generated.id) ? configured : [...configured, generated]
  return { keks, database, warnings }
}

const protectedStores = new WeakMap<ServerStore, { inner: ServerStore; keks: readonly KeyEncryptionKey[] }>()

/**
 * The opened store with its keys wrapped. At start, every stored key is checked to open with the KEKs (the start
 * fails, naming the missing KEK, rather than on the first token), and keys stored in plaintext by an earlier
 * version are wrapped: their kid and their tokens stay as they were.
 */
export async function protectKeys(store: ServerStore, protection: KeyProtection): Promise<ServerStore> {
  const { keks } = protection
  const current = keks[0]
  const wrapped = await rewrap(store, keks, (stored) => !isWrapped(stored.privateJwk))
  // The server's own secrets (secrets.ts) and the webhooks' too: checked to open, and wrapped when in plaintext.
  const secrets = [...(await rewrapSecrets(store, keks, (kek) => kek === null)), ...(await rewrapWebhookSecrets(store, keks, (kek) => kek === null))]
  if (wrapped.length + secrets.length > 0 && protection.database !== null) await compact(protection.database)
  const storeWarnings = (store as { warnings?: readonly StartWarning[] }).warnings ?? []
  const keysWrapped = overlay(store, {
    // app.ts logs these at start.
    warnings: [...storeWarnings, ...protection.warnings],
    // secrets.ts wraps and opens the server's secrets with these.
    keyEncryptionKeys: keks,
    listKeys: async (): Promise<StoredKey[]> =>
      (await store.listKeys()).map((key) => (isWrapped(key.privateJwk) ? { ...key, privateJwk: unwrapKey(key.privateJwk, key, keks) } : key)),
    saveKey: (key: StoredKey): Promise<void> => store.saveKey(current === undefined ? key : { ...key, privateJwk: wrapKey(key.privateJwk, key, current) }),
  })
  protectedStores.set(keysWrapped, { inner: store, keks })
  return keysWrapped
}

export type KeyStatus = "signing" | "next" | "verifies" | "retired"

export interface ListedKey {
  kid: string
  alg: string
  createdAt: number
  /** When it signs (or signed) from, by the store's clock. */
  activatesAt: number
  retiredAt: number | null
  /** signing: new tokens are signed with it; next: published, signs from activatesAt; verifies: only verifies. */
  status: KeyStatus
}

/**
 * The stored keys as `keys list`, GET /admin/keys and the console show them, newest first, with what each does at
 * `now` (the store's clock): the signer is chosen as the core chooses it (the newest active key that is not
 * retired), and a key waiting for its activation is next unless a newer key that signs before it supersedes it.
 */
export function listedKeys(stored: readonly StoredKey[], now: number): ListedKey[] {
  const newestFirst = [...stored].sort((a, b) => b.createdAt - a.createdAt || (a.kid < b.kid ? -1 : 1))
  const live = newestFirst.filter((key) => key.retiredAt === null)
  const signer = live.find((key) => key.activatesAt <= now) ?? [...live].sort((a, b) => a.activatesAt - b.activatesAt)[0]
  return newestFirst.map(({ kid, alg, createdAt, activatesAt, retiredAt }) => {
    const superseded = () => live.some((other) => other.createdAt > createdAt && other.activatesAt <= activatesAt)
    const status: KeyStatus =
      retiredAt !== null ? "retired" : kid === signer?.kid ? "signing" : activatesAt > now && !superseded() ? "next" : "verifies"
    return { kid, alg, createdAt, activatesAt, retiredAt, status }
  })
}

/** The store's clock, which dates key activation; the process's for a store without one. */
export async function storeNow(store: ServerStore): Promise<number> {
  return store.now === undefined ? Date.now() : store.now()
}

/**
 * `revocable keys rewrap`: wraps every stored key that is not yet wrapped under the newest KEK with it, and the
 * server's and the webhooks' secrets likewise. Resolves the id of that KEK and the kids of the keys it re-wrapped.
 * The store must come from openStore.
 */
export async function rewrapKeys(store: ServerStore): Promise<{ kek: string; rewrapped: string[] }> {
  const entry = protectedStores.get(store)
  const current = entry?.keks[0]
  if (entry === undefined || current === undefined) {
    throw new Error(`No key-encryption key is configured: set REVOCABLE_KEY_ENCRYPTION_KEY (make one with \`${MAKE_A_KEK}\`).`)
  }
  const rewrapped = await rewrap(entry.inner, entry.keks, (stored) => !isWrapped(stored.privateJwk) || wrappedUnder(stored.privateJwk) !== current.id)
  await rewrapSecrets(entry.inner, entry.keks, (kek) => kek !== current.id)
  await rewrapWebhookSecrets(entry.inner, entry.keks, (kek) => kek !== current.id)
  return { kek: current.id, rewrapped }
}

/**
 * Opens every stored key (so that one no KEK opens fails now), and saves the selected ones wrapped under the newest
 * KEK, as they were otherwise. The store has no compare-and-set for keys: a key retired by another process
 * between the read and the save is saved unretired, but stays refused through its key revocation.
 */
async function rewrap(inner: ServerStore, keks: readonly KeyEncryptionKey[], select: (stored: StoredKey) => boolean): Promise<string[]> {
  const current = keks[0]
  const done: string[] = []
  for (const stored of await inner.listKeys()) {
    const plain = isWrapped(stored.privateJwk) ? unwrapKey(stored.privateJwk, stored, keks) : stored.privateJwk
    if (current === undefined || !select(stored)) continue
    await inner.saveKey({ ...stored, privateJwk: wrapKey(plain, stored, current) })
    done.push(stored.kid)
  }
  return done
}

/**
 * SQLite keeps a row's old content in free pages and the WAL after an update: once plaintext keys are wrapped, the
 * database is rebuilt and the WAL emptied, so that a copy of the file holds no trace of them.
 */
async function compact(database: string): Promise<void> {
  const { DatabaseSync } = await import("node:sqlite")
  const db = new DatabaseSync(database)
  try {
    db.exec("PRAGMA busy_timeout = 5000")
    db.exec("VACUUM")
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)")
  } finally {
    db.close()
  }
}

/** The store with some members replaced; the others read from the store itself, whatever its implementation. */
function overlay(store: ServerStore, overrides: Record<string, unknown>): ServerStore {
  return new Proxy(store, {
    get(target, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as string]
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === "function" ? value.bind(target) : value
    },
  })
}
